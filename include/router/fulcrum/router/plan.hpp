#pragma once
// The routing decision: a pure function of the request's features, the configuration
// snapshot, live endpoint state and the time. No I/O, no locks, no JSON.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/core/time_zone.hpp"
#include "fulcrum/router/classifier.hpp"
#include "fulcrum/router/live_state.hpp"

namespace fulcrum::router {

struct RouteInput {
  const config::ModelAlias* alias = nullptr;
  std::optional<std::size_t> slo_class;  // asked for by the client (x-fulcrum-priority)
  // Values of Config::route_headers, by index; an empty view when the header is absent.
  std::span<const std::string_view> header_values;
  PromptFeatures prompt;
  TimePoint now;
  core::WallTime wall_now;
  std::uint64_t random = 0;  // uniform bits, for the weighted strategy
  // The API the request speaks: targets whose endpoint does not serve it are no candidates.
  config::Api api = config::Api::chat;
  // A continued conversation (the Responses API's previous_response_id): only targets on this
  // endpoint, the one that stored it, are candidates; they are assessed as any other.
  std::optional<std::size_t> only_endpoint;
};

// One target to try, with what the router predicted for it.
struct Candidate {
  std::size_t alias = 0;   // Config::models index of the alias whose target this is
  std::size_t target = 0;  // index into that alias's targets
  std::size_t endpoint = 0;
  double predicted_ttft = 0;  // seconds
  double predicted_e2e = 0;   // seconds
  core::Money estimated_cost;
  // Provisioned: how many requests this class may have in flight there (0 = no limit). The
  // proxy admits against it atomically, because another thread may have filled the slot
  // since the decision.
  unsigned admit_limit = 0;
  // For a class outside the endpoint's headroom, the limit is its general share plus the
  // reserved classes' requests in flight when the slot is taken (they stand in the reserve):
  // admit_base + min(reserved in flight, reserve_credit). admit_limit is that at the decision;
  // admit_limit_now() is what a slot taken later (after a wait) must go by.
  unsigned admit_base = 0;
  unsigned reserve_credit = 0;
  // The class's share of the capacity (0 = no limit): what replicas sharing state may have
  // in flight there together (a lease in Redis, taken before the attempt).
  unsigned class_limit = 0;
  // Provisioned and full for this request's class: how long it may wait in the gateway for
  // a slot (seconds, counted from the decision) before it spills to the next candidate; 0 =
  // it does not wait. predicted_ttft includes the wait the router expects.
  double max_wait = 0;
  bool cold = false;           // predicted to cold-start
  bool uses_headroom = false;  // served from capacity reserved for this request's class
  bool reserved = false;       // the request's class is one the endpoint keeps headroom for
  bool over_capacity = false;  // a last resort: every candidate within capacity failed
  // Sent at the flex tier (service_tier: flex): the route's flex_for names the request's
  // class and the target has flex prices; estimated_cost is at them.
  bool flex = false;
};

struct Plan {
  std::size_t route = 0;      // Config::routes index
  std::size_t slo_class = 0;  // Config::slo_classes index
  std::optional<std::size_t> tier;
  std::vector<Candidate> attempts;  // in the order to try
  // Why attempts[0] leads: cheapest, headroom, queued (it waits for a slot there), spill:capacity,
  // spill:slo, spill:circuit-open, cold-avoided, slo-unmet, fastest, weighted, ordered;
  // "unavailable" when attempts is empty.
  std::string_view reason;
  // When the lead is not the endpoint the strategy preferred, that endpoint and why it lost
  // ("capacity", "slo", "cold", "circuit-open").
  std::optional<std::size_t> spilled_from;
  std::string_view spill_reason;
};

// The in-flight limit `candidate`'s slot is taken against now (0 = no limit).
inline unsigned admit_limit_now(const Candidate& candidate, const EndpointState& state) {
  if (candidate.admit_limit == 0 || candidate.reserve_credit == 0) return candidate.admit_limit;
  return candidate.admit_base + std::min(state.reserved_in_flight(), candidate.reserve_credit);
}

// The class's share for replicas sharing state (class_limit), worked out now the same way.
inline unsigned class_limit_now(const Candidate& candidate, const EndpointState& state) {
  if (candidate.class_limit == 0 || candidate.admit_limit == 0) return candidate.class_limit;
  // class_limit - admit_limit: the slots others held at the decision.
  return candidate.class_limit - candidate.admit_limit + admit_limit_now(candidate, state);
}

// `config` comes from the loader (its routes end with the catch-all "default").
Plan choose(const RouteInput& input, const config::Config& config, const LiveState& live);

// Exposed for tests and the benchmark: the index of the first route matching the request.
std::size_t match_route(const RouteInput& input, const config::Config& config,
                        std::optional<std::size_t> tier);

}  // namespace fulcrum::router
