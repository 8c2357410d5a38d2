#include <algorithm>
#include <cmath>
#include <optional>

#include "fulcrum/router/plan.hpp"

namespace fulcrum::router {
namespace {

enum class Exclusion { none, capacity, circuit_open };

// KV-cache use an engine reports (endpoints.*.load) at which it takes no new request here.
constexpr double kKvCacheFull = 0.95;

struct Assessed {
  Candidate candidate;
  Exclusion exclusion = Exclusion::none;
  bool meets_slo = false;
  bool meets_slo_if_warm = false;
  double latency = 0;     // the ranking signal: TTFT for streams, end-to-end otherwise
  double queue_wait = 0;  // predicted wait for a slot, part of the candidate's predicted TTFT
  double weight = 1;
  std::size_t order = 0;  // configured order
};

double seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

bool reserved_for(const config::Endpoint& endpoint, std::size_t slo_class) {
  const auto& reserved = endpoint.headroom.reserved_for;
  return std::find(reserved.begin(), reserved.end(), slo_class) != reserved.end();
}

class Assessor {
 public:
  Assessor(const RouteInput& input, const config::Config& config, const LiveState& live,
           std::size_t slo_class, bool flex_class, double expected_output, double typical_output)
      : input_(input),
        config_(config),
        live_(live),
        slo_class_(slo_class),
        slo_(config.slo_classes[slo_class]),
        flex_class_(flex_class),
        expected_output_(expected_output),
        typical_output_(typical_output) {}

  Assessed assess(std::size_t alias, std::size_t target_index, std::size_t order) const {
    const config::Target& target = config_.models[alias].targets[target_index];
    const config::Endpoint& endpoint = config_.endpoints[target.endpoint];
    const EndpointState& state = live_.endpoint(target.endpoint);
    Assessed a;
    a.order = order;
    a.weight = target.weight;
    Candidate& c = a.candidate;
    c.alias = alias;
    c.target = target_index;
    c.endpoint = target.endpoint;

    if (state.breaker.state(input_.now) == CircuitBreaker::State::open) {
      a.exclusion = Exclusion::circuit_open;
    }
    const double ttft = state.ttft.predict(input_.now);
    double per_token = state.per_output_token.predict(input_.now);
    const bool provisioned = endpoint.kind == config::EndpointKind::provisioned;
    const unsigned capacity = provisioned ? endpoint.capacity.max_concurrency : 0;
    // Busy as this gateway counts it, as the replicas sharing state count it, or as the
    // upstream reports it when it says more (other clients share the deployment). What the
    // others hold is not this gateway's to admit.
    const unsigned own = state.in_flight();
    unsigned in_flight = std::max(own, state.fleet_in_flight(input_.now).value_or(0));
    if (const auto reported = state.reported_utilization(input_.now)) {
      if (*reported >= 1.0) {
        // Full by its own account: Azure refuses every request at 100% until it drains.
        a.exclusion = std::max(a.exclusion, Exclusion::capacity);
      } else if (capacity > 0 && *reported > 0) {
        const auto slots = static_cast<unsigned>(std::floor(*reported * capacity + 1e-9));
        in_flight = std::max(in_flight, slots);
      }
    }
    // The engine's own count (endpoints.*.load) sees every client of the GPU.
    std::optional<EndpointState::EngineReading> engine;
    if (provisioned && endpoint.load) {
      engine = state.engine_load(input_.now, endpoint.load->stale_after);
    }
    if (engine) {
      in_flight = std::max(in_flight, engine->running + engine->waiting);
      if (engine->kv_cache_usage && *engine->kv_cache_usage >= kKvCacheFull) {
        // No room for another sequence's cache: the engine would queue the request or preempt
        // one it runs.
        a.exclusion = std::max(a.exclusion, Exclusion::capacity);
      }
    }
    if (provisioned && endpoint.capacity.output_tokens_per_second > 0) {
      // A batching engine shares its token throughput among the requests it runs.
      per_token = std::max(per_token, (in_flight + 1) / endpoint.capacity.output_tokens_per_second);
    }

    double queue_wait = 0;
    if (capacity > 0) {
      const auto general_share =
          static_cast<unsigned>(std::floor(capacity * (1.0 - endpoint.headroom.fraction) + 1e-9));
      const bool reserved = reserved_for(endpoint, slo_class_);
      c.reserved = reserved;
      // Other classes may hold general_share slots. The reserve is for the reserved classes'
      // requests, and those already in flight stand in it (up to its size) whether or not the
      // general share was full when they came: so the total others may reach grows by them.
      const unsigned reserve = capacity - general_share;
      const unsigned limit =
          reserved ? capacity : general_share + std::min(state.reserved_in_flight(), reserve);
      const unsigned others = in_flight - own;  // held by other replicas or other clients
      if (!reserved && others < general_share) {
        c.admit_base = general_share - others;
        c.reserve_credit = reserve;
      }
      // Requests already waiting there that go first (earlier deadlines) have a claim on the
      // slots that free: a request that may wait takes a free slot only past them. (A class
      // that may not wait has none ahead of it.)
      // When only the reserve has room, waiters outside it could not take the slot.
      const unsigned ahead = waiting_ahead(
          state,
          reserved && in_flight >= general_share + std::min(state.reserved_in_flight(), reserve)
              ? &endpoint
              : nullptr);
      if (in_flight + ahead < limit) {
        c.admit_limit = limit - others;
        c.class_limit = limit;
        c.uses_headroom = reserved && in_flight >= general_share;
      } else if (const auto wait =
                     plan_wait(endpoint, state, in_flight, ahead, limit, ttft, per_token);
                 wait && others < limit) {
        // Full for this class: it waits in the gateway for one of its own slots, and may
        // still spill when the wait runs out. Its limit is worked out again when it takes a
        // slot (admit_limit_now): the reserved requests in flight now may be gone by then.
        queue_wait = wait->predicted;
        c.admit_limit = limit - others;
        c.class_limit = limit;
        c.max_wait = wait->budget;
      } else if (wait && limit == capacity) {
        // Others (the engine's own queue, other clients) fill it: no slot this gateway gives
        // back would be one for this request, so it queues at the engine, within the same
        // bound.
        queue_wait = wait->predicted;
      } else {
        a.exclusion = std::max(a.exclusion, Exclusion::capacity);
      }
    }
    if (engine && engine->waiting > 0 && capacity > 0) {
      // Requests already queued at the engine go first: by Little's law, each of them waits
      // service-time / capacity on average.
      const double service = ttft + typical_output_ * per_token;
      queue_wait = std::max(queue_wait, engine->waiting * service / capacity);
    }

    c.cold = state.is_cold(endpoint, input_.now);
    const double cold_penalty = c.cold ? seconds(endpoint.cold_start->p95) : 0;
    c.predicted_ttft = ttft + queue_wait + cold_penalty;
    c.predicted_e2e = c.predicted_ttft + expected_output_ * per_token;
    if (!provisioned) {
      // Bounded: max_tokens and n are at most 2^31 - 1 each (api/request.cpp).
      const auto output = static_cast<std::int64_t>(std::llround(
          std::min(expected_output_ * static_cast<double>(input_.prompt.choices), 9e18)));
      // The route sends this class at the flex tier where the target has a price for it.
      c.flex = flex_class_ && target.flex_price.has_value();
      const config::Price& price = c.flex ? *target.flex_price : target.price;
      c.estimated_cost =
          price.input.cost_of(static_cast<std::int64_t>(input_.prompt.estimated_tokens)) +
          price.output.cost_of(output);
    }
    const double ttft_target = seconds(slo_.ttft);
    const double e2e_target = seconds(slo_.e2e);
    a.meets_slo = c.predicted_ttft <= ttft_target && c.predicted_e2e <= e2e_target;
    a.meets_slo_if_warm = c.predicted_ttft - cold_penalty <= ttft_target &&
                          c.predicted_e2e - cold_penalty <= e2e_target;
    a.latency = input_.prompt.stream ? c.predicted_ttft : c.predicted_e2e;
    a.queue_wait = queue_wait;
    return a;
  }

 private:
  struct Wait {
    double predicted = 0;  // seconds until a slot of the class's share frees up
    double budget = 0;     // seconds the request may wait before it spills
  };

  // Whether a request may wait for a slot on this full endpoint, and how long. Slots free as
  // requests finish: with n requests generating (at most the capacity), each holding its slot
  // for the learnt hold time, one frees every hold / n seconds, and this request needs as many
  // as put the endpoint under its class's limit once the `ahead` requests waiting before it
  // are served (in_flight + ahead is at least `limit` here).
  // It waits only when that keeps its predicted time to first token (wait + prefill) a margin
  // inside the class's target, within max_queue_wait, and the queue has room.
  std::optional<Wait> plan_wait(const config::Endpoint& endpoint, const EndpointState& state,
                                unsigned in_flight, unsigned ahead, unsigned limit, double ttft,
                                double per_token) const {
    if (limit == 0 || slo_.max_queue_wait <= core::Duration::zero()) return std::nullopt;
    if (state.waiting() >= endpoint.capacity.max_waiting) return std::nullopt;
    const unsigned generating =
        std::max(1u, std::min(in_flight, endpoint.capacity.max_concurrency));
    const double hold = state.slot_hold.mean().value_or(ttft + typical_output_ * per_token);
    const double releases = static_cast<double>(in_flight + ahead + 1 - limit);
    Wait wait;
    wait.predicted = releases * hold / static_cast<double>(generating);
    wait.budget =
        std::min(seconds(slo_.max_queue_wait), seconds(slo_.ttft) - seconds(slo_.margin()) - ttft);
    if (wait.budget <= 0 || wait.predicted > wait.budget) return std::nullopt;
    return wait;
  }

  // How long a class may wait at most, margin kept: the queue wakes earliest deadlines first,
  // so a class with a shorter horizon usually goes ahead of one with a longer.
  static double horizon(const config::SloClass& slo) {
    return std::min(seconds(slo.max_queue_wait), seconds(slo.ttft) - seconds(slo.margin()));
  }

  // Requests already waiting on the endpoint that will likely be woken before this one: those
  // of classes whose horizon is no longer than its own (of the classes `reserve_of` keeps
  // headroom for only, when given: only reserved slots are free).
  unsigned waiting_ahead(const EndpointState& state,
                         const config::Endpoint* reserve_of = nullptr) const {
    unsigned ahead = 0;
    const double own = horizon(slo_);
    const std::size_t counted =
        std::min(config_.slo_classes.size(), EndpointState::kWaitingClasses);
    for (std::size_t c = 0; c < counted; ++c) {
      if (reserve_of != nullptr && !reserved_for(*reserve_of, c)) continue;
      if (horizon(config_.slo_classes[c]) <= own) ahead += state.waiting(c);
    }
    return ahead;
  }

  const RouteInput& input_;
  const config::Config& config_;
  const LiveState& live_;
  std::size_t slo_class_;
  const config::SloClass& slo_;
  bool flex_class_;  // the route's flex_for names the request's class
  double expected_output_;
  double typical_output_;
};

bool cheaper(const Assessed& a, const Assessed& b) {
  if (a.candidate.estimated_cost != b.candidate.estimated_cost) {
    return a.candidate.estimated_cost < b.candidate.estimated_cost;
  }
  if (a.latency != b.latency) return a.latency < b.latency;
  return a.order < b.order;
}

bool faster(const Assessed& a, const Assessed& b) {
  if (a.latency != b.latency) return a.latency < b.latency;
  return a.order < b.order;
}

// Why the preferred candidate is not the one leading the plan.
std::pair<std::string_view, std::string_view> spill_reason(const Assessed& preferred) {
  switch (preferred.exclusion) {
    case Exclusion::capacity:
      return {"spill:capacity", "capacity"};
    case Exclusion::circuit_open:
      return {"spill:circuit-open", "circuit-open"};
    case Exclusion::none:
      break;
  }
  if (!preferred.meets_slo && preferred.meets_slo_if_warm) return {"cold-avoided", "cold"};
  return {"spill:slo", "slo"};
}

// A wait that runs out spills to another candidate, whose own time to first token then comes
// on top of it: each wait ends early enough for the fastest of the others to stay inside the
// class's target (its margin kept). When that leaves less than the wait predicted, the
// endpoint is full for the request, as if it could not wait at all. When no other candidate
// could meet the target after any wait, the wait keeps its whole budget: spilling would not
// help. Budgets are worked out from the candidates as assessed, then applied.
void end_waits_in_time_to_spill(std::vector<Assessed>& all, const config::SloClass& slo) {
  const double horizon = seconds(slo.ttft) - seconds(slo.margin());
  std::vector<std::optional<double>> budgets(all.size());
  for (std::size_t w = 0; w < all.size(); ++w) {
    if (all[w].candidate.max_wait <= 0) continue;
    std::optional<double> then;
    for (std::size_t o = 0; o < all.size(); ++o) {
      if (o == w || all[o].exclusion != Exclusion::none) continue;
      const double ttft = all[o].candidate.predicted_ttft;
      then = std::min(then.value_or(ttft), ttft);
    }
    if (!then || *then >= horizon) continue;  // nowhere better to spill: the wait is all there is
    budgets[w] = std::min(all[w].candidate.max_wait, horizon - *then);
  }
  for (std::size_t w = 0; w < all.size(); ++w) {
    if (!budgets[w]) continue;
    Assessed& waiting = all[w];
    if (*budgets[w] < waiting.queue_wait) {
      waiting.candidate.max_wait = 0;
      waiting.exclusion = std::max(waiting.exclusion, Exclusion::capacity);
    } else {
      waiting.candidate.max_wait = *budgets[w];
    }
  }
}

}  // namespace

Plan choose(const RouteInput& input, const config::Config& config, const LiveState& live) {
  Plan plan;
  plan.reason = "unavailable";
  if (input.alias == nullptr) return plan;

  const config::ModelAlias* alias = input.alias;
  // A continued conversation is not classified: it goes where it is stored, through whichever
  // tiers' aliases reach that endpoint (below).
  if (alias->classify && !config.classifier.tiers.empty() && !alias->tier_alias.empty() &&
      !input.only_endpoint) {
    plan.tier = tier_of(complexity_score(input.prompt, config.classifier), config.classifier);
    alias = &config.models[alias->tier_alias[*plan.tier]];
  }
  plan.route = match_route(input, config, plan.tier);
  const config::Route& route = config.routes[plan.route];
  plan.slo_class = input.slo_class.value_or(route.slo);
  if (config.slo_classes.empty()) return plan;

  const double typical_output = live.expected_output_tokens(plan.route);
  const double expected_output =
      input.prompt.max_tokens ? static_cast<double>(*input.prompt.max_tokens) : typical_output;
  const bool flex_class = std::find(route.flex_for.begin(), route.flex_for.end(), plan.slo_class) !=
                          route.flex_for.end();
  const Assessor assessor(input, config, live, plan.slo_class, flex_class, expected_output,
                          typical_output);

  std::vector<Assessed> all;
  all.reserve(alias->targets.size() + 4);
  // An alias's own targets are distinct (the loader made them so); a fallback alias's
  // targets may repeat them and are then left out.
  const auto add_alias = [&](std::size_t alias_index, bool may_repeat) {
    const auto& targets = config.models[alias_index].targets;
    for (std::size_t t = 0; t < targets.size(); ++t) {
      if (!config.endpoints[targets[t].endpoint].serves(input.api)) continue;
      if (input.only_endpoint && targets[t].endpoint != *input.only_endpoint) continue;
      const bool duplicate =
          may_repeat && std::any_of(all.begin(), all.end(), [&](const Assessed& a) {
            const auto& other = config.models[a.candidate.alias].targets[a.candidate.target];
            return other.endpoint == targets[t].endpoint &&
                   other.upstream_model == targets[t].upstream_model;
          });
      if (!duplicate) all.push_back(assessor.assess(alias_index, t, all.size()));
    }
  };
  add_alias(static_cast<std::size_t>(alias - config.models.data()), false);
  if (input.only_endpoint && alias->classify) {
    for (std::size_t tier : alias->tier_alias) add_alias(tier, true);
  }
  for (std::size_t fallback : route.fallback) add_alias(fallback, true);
  if (all.empty()) return plan;
  end_waits_in_time_to_spill(all, config.slo_classes[plan.slo_class]);

  std::vector<Assessed> ranked;
  ranked.reserve(all.size());
  for (const Assessed& a : all) {
    if (a.exclusion == Exclusion::none) ranked.push_back(a);
  }

  const Assessed* preferred = nullptr;
  switch (route.strategy) {
    case config::Strategy::cheapest_meeting_slo: {
      // Those meeting the SLO by marginal cost, then the rest by speed.
      const auto split = std::stable_partition(ranked.begin(), ranked.end(),
                                               [](const Assessed& a) { return a.meets_slo; });
      std::sort(ranked.begin(), split, cheaper);
      std::sort(split, ranked.end(), faster);
      preferred = &*std::min_element(all.begin(), all.end(), cheaper);
      if (!ranked.empty() && !ranked.front().meets_slo) plan.reason = "slo-unmet";
      break;
    }
    case config::Strategy::lowest_latency:
      std::sort(ranked.begin(), ranked.end(), faster);
      preferred = &*std::min_element(all.begin(), all.end(), faster);
      plan.reason = "fastest";
      break;
    case config::Strategy::weighted: {
      double total = 0;
      for (const Assessed& a : ranked) total += a.weight;
      if (total > 0) {
        double pick = total * static_cast<double>(input.random >> 11) * 0x1.0p-53;
        auto chosen = ranked.begin();
        for (; chosen + 1 != ranked.end(); ++chosen) {
          if (pick < chosen->weight) break;
          pick -= chosen->weight;
        }
        std::rotate(ranked.begin(), chosen, chosen + 1);
      }
      plan.reason = "weighted";
      break;
    }
    case config::Strategy::ordered:
      preferred = &all.front();
      plan.reason = "ordered";
      break;
  }

  // Over-capacity provisioned targets stay as a last resort, queued at the upstream.
  for (const Assessed& a : all) {
    if (a.exclusion == Exclusion::capacity) {
      ranked.push_back(a);
      Candidate& last_resort = ranked.back().candidate;
      last_resort.over_capacity = true;
      last_resort.max_wait = 0;
      last_resort.admit_limit = 0;  // no limit, here or in the fleet
      last_resort.class_limit = 0;
      last_resort.admit_base = 0;
      last_resort.reserve_credit = 0;
    }
  }
  if (ranked.empty()) {
    plan.reason = "unavailable";
    return plan;
  }
  plan.attempts.reserve(ranked.size());
  for (const Assessed& a : ranked) plan.attempts.push_back(a.candidate);

  const Candidate& lead = plan.attempts.front();
  if (preferred != nullptr &&
      (preferred->candidate.alias != lead.alias || preferred->candidate.target != lead.target)) {
    const auto [reason, label] = spill_reason(*preferred);
    if (plan.reason != "slo-unmet") plan.reason = reason;
    plan.spilled_from = preferred->candidate.endpoint;
    plan.spill_reason = label;
  } else if (route.strategy == config::Strategy::cheapest_meeting_slo &&
             plan.reason != "slo-unmet") {
    plan.reason = lead.max_wait > 0 ? "queued" : lead.uses_headroom ? "headroom" : "cheapest";
  }
  return plan;
}

}  // namespace fulcrum::router
