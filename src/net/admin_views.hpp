#pragma once
// The JSON documents of the admin API: the running configuration (secrets redacted) and
// the live state of each endpoint, the outcome of a reload.
#include <string>

#include "runtime.hpp"

namespace fulcrum::net {

// GET /admin/config: the configuration as loaded, every secret shown as "[redacted]".
std::string config_view(const Snapshot& snapshot);
// GET /admin/endpoints: in flight, utilization, latency estimates, circuit, warmth.
std::string endpoints_view(const Snapshot& snapshot);
// POST /admin/reload: {"result": "reloaded"|"unchanged"|"error", "hash", "errors"}.
std::string reload_view(const ReloadResult& result);

}  // namespace fulcrum::net
