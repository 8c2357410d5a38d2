#include "fulcrum/router/plan.hpp"

namespace fulcrum::router {

Plan choose(const RouteInput& input, const config::Config& /*config*/) {
  Plan plan;
  if (input.alias == nullptr) return plan;
  plan.attempts.reserve(input.alias->targets.size());
  for (const config::Target& target : input.alias->targets) {
    plan.attempts.push_back({&target, plan.attempts.empty() ? "primary" : "fallback"});
  }
  return plan;
}

}  // namespace fulcrum::router
