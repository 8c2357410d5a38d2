#include <array>

#include "counter_grid.hpp"
#include "fulcrum/metering/metrics.hpp"
#include "routing_families.hpp"

namespace fulcrum::metering {
namespace {

// The reasons a plan's lead can have (router/plan.hpp). Runtime reasons ("fallback:503")
// are rarer and resolved by label lookup.
constexpr std::array<std::string_view, 12> kDecisionReasons{
    "cheapest",     "headroom",  "queued",  "spill:capacity", "spill:slo", "spill:circuit-open",
    "cold-avoided", "slo-unmet", "fastest", "weighted",       "ordered",   "unavailable"};
constexpr std::array<std::string_view, 5> kSpillReasons{"capacity", "slo", "cold", "circuit-open",
                                                        "429"};

// Seconds a request waited for a slot: from a blink to a batch class's minutes.
const prometheus::Histogram::BucketBoundaries& queue_wait_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{0.05, 0.1, 0.25, 0.5, 1,  2,
                                                               5,    10,  20,   30,  60, 300};
  return buckets;
}

template <std::size_t N>
std::optional<std::size_t> position(const std::array<std::string_view, N>& names,
                                    std::string_view name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) return i;
  }
  return std::nullopt;
}

}  // namespace

Metrics::RoutingFamilies::RoutingFamilies(prometheus::Registry& registry)
    : decisions(prometheus::BuildCounter()
                    .Name("fulcrum_routing_decisions_total")
                    .Help("Requests by route, the endpoint that served them and why it was "
                          "chosen (x-fulcrum-reason).")
                    .Register(registry)),
      spillovers(prometheus::BuildCounter()
                     .Name("fulcrum_spillover_total")
                     .Help("Requests that left the endpoint the strategy preferred for one "
                           "that is not provisioned, by reason: capacity, slo, cold, "
                           "circuit-open, 429. Moves between provisioned endpoints are "
                           "fulcrum_unit_moves_total.")
                     .Register(registry)),
      unit_moves(prometheus::BuildCounter()
                     .Name("fulcrum_unit_moves_total")
                     .Help("Requests placed on another provisioned endpoint than the one the "
                           "strategy preferred (it was full, slow or open): they stayed on "
                           "paid-for capacity.")
                     .Register(registry)),
      queue_waiting(prometheus::BuildGauge()
                        .Name("fulcrum_queue_waiting")
                        .Help("Requests waiting in the gateway for a slot on a full provisioned "
                              "endpoint, by SLO class.")
                        .Register(registry)),
      queue_wait(prometheus::BuildHistogram()
                     .Name("fulcrum_queue_wait_seconds")
                     .Help("How long requests waited in the gateway for a slot on a full "
                           "provisioned endpoint, from arrival, by SLO class.")
                     .Register(registry)),
      queue_outcomes(prometheus::BuildCounter()
                         .Name("fulcrum_queue_outcomes_total")
                         .Help("Waits for a slot on a full provisioned endpoint by how they "
                               "ended: served (a slot freed in time) or spilled (the wait "
                               "ran out; the request went to the next target).")
                         .Register(registry)),
      slo_violations(prometheus::BuildCounter()
                         .Name("fulcrum_slo_violations_total")
                         .Help("Served requests whose time to first token or total duration "
                               "exceeded their SLO class's target.")
                         .Register(registry)),
      cold_starts(prometheus::BuildCounter()
                      .Name("fulcrum_cold_starts_total")
                      .Help("Requests sent to a scale-to-zero endpoint idle past after_idle.")
                      .Register(registry)),
      prewarm_requests(prometheus::BuildCounter()
                           .Name("fulcrum_prewarm_requests_total")
                           .Help("Keep-warm requests sent in prewarm windows.")
                           .Register(registry)),
      malformed_events(prometheus::BuildCounter()
                           .Name("fulcrum_upstream_malformed_events_total")
                           .Help("SSE events from an upstream whose data was not valid JSON: "
                                 "dropped, not relayed (a client SDK would throw on them).")
                           .Register(registry)),
      latency_estimate(prometheus::BuildGauge()
                           .Name("fulcrum_endpoint_latency_estimate_seconds")
                           .Help("The router's live latency estimate per endpoint: signal=ttft "
                                 "(time to first token) or per_output_token.")
                           .Register(registry)),
      circuit_open(prometheus::BuildGauge()
                       .Name("fulcrum_circuit_breaker_open")
                       .Help("1 while an endpoint's circuit breaker is open or half-open.")
                       .Register(registry)),
      retry_budget_exhausted(
          prometheus::BuildCounter()
              .Name("fulcrum_retry_budget_exhausted_total")
              .Help("Retries or moves to another target refused because the retry budget's "
                    "window had no room (retries within ratio x requests, or the floor).")
              .Register(registry)
              .Add({})) {}

void Metrics::bind_routing(const config::Config& config, MeterTable& table) {
  RoutingFamilies& f = *routing_;
  CounterGrid::Axis routes;
  for (const config::Route& route : config.routes) routes.push_back({{"route", route.name}});
  CounterGrid::Axis endpoints;
  CounterGrid::Axis from;
  CounterGrid::Axis to;
  for (const config::Endpoint& endpoint : config.endpoints) {
    endpoints.push_back({{"endpoint", endpoint.name}});
    from.push_back({{"from", endpoint.name}});
    to.push_back({{"to", endpoint.name}});
    table.cold_starts.push_back(&f.cold_starts.Add({{"endpoint", endpoint.name}}));
    table.prewarm_requests.push_back(&f.prewarm_requests.Add({{"endpoint", endpoint.name}}));
    table.malformed_events.push_back(&f.malformed_events.Add({{"endpoint", endpoint.name}}));
    table.ttft_estimate.push_back(
        &f.latency_estimate.Add({{"endpoint", endpoint.name}, {"signal", "ttft"}}));
    table.per_token_estimate.push_back(
        &f.latency_estimate.Add({{"endpoint", endpoint.name}, {"signal", "per_output_token"}}));
    table.ttft_estimate.back()->Set(std::chrono::duration<double>(endpoint.latency.ttft).count());
    table.per_token_estimate.back()->Set(endpoint.latency.seconds_per_output_token);
    table.circuit_open.push_back(&f.circuit_open.Add({{"endpoint", endpoint.name}}));
  }
  endpoints.push_back({{"endpoint", "none"}});
  CounterGrid::Axis reasons;
  for (std::string_view reason : kDecisionReasons)
    reasons.push_back({{"reason", std::string(reason)}});
  CounterGrid::Axis spill_reasons;
  for (std::string_view reason : kSpillReasons) {
    spill_reasons.push_back({{"reason", std::string(reason)}});
  }
  for (const config::SloClass& slo : config.slo_classes) {
    table.slo_violations.push_back(&f.slo_violations.Add({{"slo_class", slo.name}}));
  }
  // Where requests may wait for a slot, the queue's series exist from the start (at zero), so
  // a dashboard shows an empty queue rather than no data.
  for (const config::Endpoint& endpoint : config.endpoints) {
    if (endpoint.kind != config::EndpointKind::provisioned ||
        endpoint.capacity.max_concurrency == 0) {
      continue;
    }
    for (const config::SloClass& slo : config.slo_classes) {
      if (slo.max_queue_wait <= core::Duration::zero()) continue;
      const prometheus::Labels labels{{"endpoint", endpoint.name}, {"slo_class", slo.name}};
      f.queue_waiting.Add(labels);
      f.queue_wait.Add(labels, queue_wait_buckets());
      for (const char* outcome : {"served", "spilled"}) {
        prometheus::Labels with_outcome = labels;
        with_outcome["outcome"] = outcome;
        f.queue_outcomes.Add(with_outcome);
      }
    }
  }
  table.decisions = std::make_unique<CounterGrid>(
      f.decisions,
      std::vector<CounterGrid::Axis>{std::move(routes), std::move(endpoints), std::move(reasons)});
  table.spillovers = std::make_unique<CounterGrid>(
      f.spillovers,
      std::vector<CounterGrid::Axis>{std::move(from), std::move(to), std::move(spill_reasons)});
}

void Metrics::decision(const MeterTable& table, std::size_t route,
                       std::optional<std::size_t> endpoint, std::string_view reason) {
  const std::size_t endpoint_position = endpoint.value_or(table.in_flight.size());
  if (const auto known = position(kDecisionReasons, reason)) {
    table.decisions->at({route, endpoint_position, *known}).Increment();
    return;
  }
  // A fallback reason such as "fallback:503": rare, so a label lookup is fine.
  prometheus::Labels labels = table.decisions->labels_at({route, endpoint_position, 0});
  labels["reason"] = std::string(reason);
  routing_->decisions.Add(labels).Increment();
}

void Metrics::spillover(const MeterTable& table, std::size_t from, std::size_t to,
                        std::string_view reason) {
  if (const auto known = position(kSpillReasons, reason)) {
    table.spillovers->at({from, to, *known}).Increment();
  }
}

void Metrics::unit_move(std::string_view from, std::string_view to, std::string_view reason) {
  routing_->unit_moves
      .Add({{"from", std::string(from)}, {"to", std::string(to)}, {"reason", std::string(reason)}})
      .Increment();
}

void Metrics::queue_joined(std::string_view endpoint, std::string_view slo_class) {
  routing_->queue_waiting
      .Add({{"endpoint", std::string(endpoint)}, {"slo_class", std::string(slo_class)}})
      .Increment();
}

void Metrics::queue_left(std::string_view endpoint, std::string_view slo_class,
                         double waited_seconds, bool served) {
  const prometheus::Labels labels{{"endpoint", std::string(endpoint)},
                                  {"slo_class", std::string(slo_class)}};
  routing_->queue_waiting.Add(labels).Decrement();
  routing_->queue_wait.Add(labels, queue_wait_buckets()).Observe(waited_seconds);
  prometheus::Labels outcome = labels;
  outcome["outcome"] = served ? "served" : "spilled";
  routing_->queue_outcomes.Add(outcome).Increment();
}

void Metrics::retry_budget_exhausted() { routing_->retry_budget_exhausted.Increment(); }

void Metrics::slo_violation(const MeterTable& table, std::size_t slo_class) {
  table.slo_violations[slo_class]->Increment();
}

void Metrics::malformed_events(const MeterTable& table, std::size_t endpoint, std::size_t count) {
  table.malformed_events[endpoint]->Increment(static_cast<double>(count));
}

void Metrics::cold_start(const MeterTable& table, std::size_t endpoint) {
  table.cold_starts[endpoint]->Increment();
}

void Metrics::prewarm_sent(const MeterTable& table, std::size_t endpoint) {
  table.prewarm_requests[endpoint]->Increment();
}

void Metrics::latency_estimate(const MeterTable& table, std::size_t endpoint, double ttft_seconds,
                               double per_output_token_seconds) {
  table.ttft_estimate[endpoint]->Set(ttft_seconds);
  table.per_token_estimate[endpoint]->Set(per_output_token_seconds);
}

void Metrics::circuit(const MeterTable& table, std::size_t endpoint, bool open) {
  table.circuit_open[endpoint]->Set(open ? 1 : 0);
}

}  // namespace fulcrum::metering
