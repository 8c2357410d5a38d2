#pragma once
// The routing metrics' families, shared by metrics.cpp and metrics_routing.cpp.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>

#include "fulcrum/metering/metrics.hpp"

namespace fulcrum::metering {

struct Metrics::RoutingFamilies {
  explicit RoutingFamilies(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& decisions;
  prometheus::Family<prometheus::Counter>& spillovers;
  prometheus::Family<prometheus::Counter>& unit_moves;
  prometheus::Family<prometheus::Gauge>& queue_waiting;
  prometheus::Family<prometheus::Histogram>& queue_wait;
  prometheus::Family<prometheus::Counter>& queue_outcomes;
  prometheus::Family<prometheus::Counter>& slo_violations;
  prometheus::Family<prometheus::Counter>& cold_starts;
  prometheus::Family<prometheus::Counter>& prewarm_requests;
  prometheus::Family<prometheus::Counter>& malformed_events;
  prometheus::Family<prometheus::Gauge>& latency_estimate;
  prometheus::Family<prometheus::Gauge>& circuit_open;
  prometheus::Counter& retry_budget_exhausted;
};

}  // namespace fulcrum::metering
