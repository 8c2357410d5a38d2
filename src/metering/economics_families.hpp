#pragma once
// The provisioned-economics metrics' families, shared by metrics.cpp and
// metrics_economics.cpp.
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "fulcrum/metering/metrics.hpp"
#include "fulcrum/metering/provisioned.hpp"
#include "money_counter.hpp"

namespace fulcrum::metering {

struct Metrics::EconomicsFamilies {
  explicit EconomicsFamilies(prometheus::Registry& registry);

  prometheus::Family<prometheus::Gauge>& utilization;
  prometheus::Family<prometheus::Gauge>& hourly_cost;
  prometheus::Family<prometheus::Gauge>& effective_cost;
  prometheus::Family<prometheus::Histogram>& request_cost;
  prometheus::Family<prometheus::Gauge>& recommended_units;
  MoneyCounterFamily idle_cost;

  // One provisioned endpoint's samples, created when a config names it and removed when a
  // reloaded config no longer does (a removed endpoint must not look idle forever).
  struct EndpointGauges {
    std::array<prometheus::Gauge*, 2> tokens_utilization{};       // by window; null: no basis
    std::array<prometheus::Gauge*, 2> concurrency_utilization{};  // by window
    std::array<prometheus::Gauge*, 2> effective_cost{};           // by window
    prometheus::Gauge* hourly_cost = nullptr;
    MoneyCell* idle_cost = nullptr;
  };

  // What scrapes refresh: guarded because scrapes may overlap with a reload.
  std::mutex mutex;
  std::shared_ptr<const void> owner;  // keeps `config` alive
  const config::Config* config = nullptr;
  std::shared_ptr<const Economics> economics;
  std::map<std::string, EndpointGauges> endpoints;
};

}  // namespace fulcrum::metering
