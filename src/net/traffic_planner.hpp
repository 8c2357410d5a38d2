#pragma once
// The plan follows the traffic: once an hour (and after a reload, at most once a minute), the
// ledger's last weeks are read off the request path into an hour-of-week profile
// (metering/hour_profile.hpp); the units it recommends for the coming hour are exported, and
// automatic prewarm reads the hours it expects traffic in.
#include <atomic>

#include "fulcrum/net/asio.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

// Runs on `worker` until `stopping` is set or its io_context stops; reads the ledger on
// `reader` (a thread of its own, which must outlive the worker's io_context's handlers).
awaitable<void> traffic_plan_loop(Worker& worker, asio::thread_pool::executor_type reader,
                                  Runtime& runtime, const std::atomic<bool>& stopping);

}  // namespace fulcrum::net
