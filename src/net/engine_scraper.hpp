#pragma once
// Reads the load provisioned endpoints' engines report (endpoints.*.load): each engine's
// /metrics every `interval`, parsed by its format, into the endpoint's live state, where the
// router counts every client's running and waiting requests. A scrape that fails leaves the
// last reading to age; past `stale_after` the router no longer believes it (and
// fulcrum_engine_load_stale says so).
#include <atomic>

#include "fulcrum/net/asio.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

// Runs on `worker` until `stopping` is set or its io_context stops.
awaitable<void> engine_load_loop(Worker& worker, Runtime& runtime,
                                 const std::atomic<bool>& stopping);

}  // namespace fulcrum::net
