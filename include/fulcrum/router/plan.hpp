#pragma once
// The router's output: which targets to try, in order, and why. Pure data; no I/O.
#include <string_view>
#include <vector>

#include "fulcrum/config/config.hpp"

namespace fulcrum::router {

struct PlannedAttempt {
  const config::Target* target = nullptr;  // points into the request's Config snapshot
  std::string_view reason;                 // "primary", "fallback"
};

struct Plan {
  std::vector<PlannedAttempt> attempts;
};

struct RouteInput {
  const config::ModelAlias* alias = nullptr;
};

// Tries the alias's targets in their configured order. The policy engine (cost, latency,
// capacity) replaces this behind the same signature.
Plan choose(const RouteInput& input, const config::Config& config);

}  // namespace fulcrum::router
