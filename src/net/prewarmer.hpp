#pragma once
// Keep-warm requests for scale-to-zero serverless endpoints inside their prewarm windows
// (config: endpoints.*.prewarm), so traffic arriving at opening time finds them warm.
#include <atomic>

#include "fulcrum/net/asio.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

// Runs on `worker` until `stopping` is set or its io_context stops.
awaitable<void> prewarm_loop(Worker& worker, Runtime& runtime, const std::atomic<bool>& stopping);

}  // namespace fulcrum::net
