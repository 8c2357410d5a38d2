// Provisioned economics in Prometheus: utilization, hourly and idle cost, effective cost per
// million tokens (read from the meters at each scrape), and the cost of each request.
#include <limits>

#include "economics_families.hpp"

namespace fulcrum::metering {

Metrics::EconomicsFamilies::EconomicsFamilies(prometheus::Registry& registry)
    : utilization(prometheus::BuildGauge()
                      .Name("fulcrum_provisioned_utilization_ratio")
                      .Help("Share of a provisioned endpoint's capacity used over the window: "
                            "weighted tokens over output_tokens_per_second (basis=tokens), or "
                            "request-seconds in flight over max_concurrency (basis=concurrency).")
                      .Register(registry)),
      hourly_cost(prometheus::BuildGauge()
                      .Name("fulcrum_provisioned_hourly_cost_usd")
                      .Help("What a provisioned endpoint costs per hour, used or not.")
                      .Register(registry)),
      effective_cost(prometheus::BuildGauge()
                         .Name("fulcrum_effective_cost_per_million_tokens_usd")
                         .Help("A provisioned endpoint's cost over the window divided by the "
                               "tokens it served (input and output), per million; NaN without "
                               "tokens.")
                         .Register(registry)),
      request_cost(prometheus::BuildHistogram()
                       .Name("fulcrum_request_cost_usd")
                       .Help("Cost of each served request: the marginal cost for serverless, the "
                             "amortized share of the hourly price for provisioned.")
                       .Register(registry)),
      recommended_units(
          prometheus::BuildGauge()
              .Name("fulcrum_provisioned_recommended_units")
              .Help("Units of a provisioned endpoint the breakeven report finds cheapest for the "
                    "coming hour, from the ledger's hour-of-week profile of the last weeks: an "
                    "autoscaler's target.")
              .Register(registry)),
      idle_cost("fulcrum_provisioned_idle_cost_usd_total",
                "The part of a provisioned endpoint's hourly cost that no request used, accrued "
                "continuously.") {}

const prometheus::Histogram::BucketBoundaries& request_cost_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.000001, 0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
  return buckets;
}

void Metrics::recommended_units(const std::map<std::string, unsigned>& units) {
  for (const auto& [endpoint, n] : units) {
    economics_->recommended_units.Add({{"endpoint", endpoint}}).Set(n);
  }
}

prometheus::Histogram* Metrics::request_cost_histogram(const std::string& kind) {
  return &economics_->request_cost.Add({{"kind", kind}}, request_cost_buckets());
}

void Metrics::watch_economics(const config::Config& config, std::shared_ptr<const void> owner,
                              std::shared_ptr<const Economics> economics) {
  EconomicsFamilies& f = *economics_;
  const std::lock_guard lock(f.mutex);
  std::map<std::string, EconomicsFamilies::EndpointGauges> kept;
  for (const config::Endpoint& endpoint : config.endpoints) {
    if (endpoint.kind != config::EndpointKind::provisioned) continue;
    EconomicsFamilies::EndpointGauges g;
    if (const auto old = f.endpoints.find(endpoint.name); old != f.endpoints.end()) {
      g = old->second;
      f.endpoints.erase(old);
    }
    const auto gauge = [&](prometheus::Gauge*& slot, auto& family, const prometheus::Labels& labels,
                           bool wanted) {
      if (wanted && slot == nullptr) slot = &family.Add(labels);
      if (!wanted && slot != nullptr) {
        family.Remove(slot);
        slot = nullptr;
      }
    };
    for (std::size_t w = 0; w < ProvisionedMeter::kWindowNames.size(); ++w) {
      const std::string window = ProvisionedMeter::kWindowNames[w];
      gauge(g.tokens_utilization[w], f.utilization,
            {{"endpoint", endpoint.name}, {"window", window}, {"basis", "tokens"}},
            endpoint.capacity.output_tokens_per_second > 0);
      gauge(g.concurrency_utilization[w], f.utilization,
            {{"endpoint", endpoint.name}, {"window", window}, {"basis", "concurrency"}},
            endpoint.capacity.max_concurrency > 0);
      gauge(g.effective_cost[w], f.effective_cost,
            {{"endpoint", endpoint.name}, {"window", window}}, true);
    }
    gauge(g.hourly_cost, f.hourly_cost, {{"endpoint", endpoint.name}}, true);
    g.hourly_cost->Set(endpoint.hourly_usd);
    if (g.idle_cost == nullptr) g.idle_cost = &f.idle_cost.add({{"endpoint", endpoint.name}});
    kept[endpoint.name] = g;
  }
  // Endpoints the new config dropped: their samples go (the idle counter stays, frozen, as
  // counters do; it is the record of money spent).
  for (auto& [name, g] : f.endpoints) {
    for (auto* gauge : g.tokens_utilization)
      if (gauge) f.utilization.Remove(gauge);
    for (auto* gauge : g.concurrency_utilization)
      if (gauge) f.utilization.Remove(gauge);
    for (auto* gauge : g.effective_cost)
      if (gauge) f.effective_cost.Remove(gauge);
    if (g.hourly_cost) f.hourly_cost.Remove(g.hourly_cost);
  }
  f.endpoints = std::move(kept);
  f.owner = std::move(owner);
  f.config = &config;
  f.economics = std::move(economics);
}

void Metrics::refresh_economics() {
  EconomicsFamilies& f = *economics_;
  const std::lock_guard lock(f.mutex);
  if (f.economics == nullptr) return;
  const auto now = core::Clock::now();
  for (std::size_t i = 0; i < f.config->endpoints.size(); ++i) {
    ProvisionedMeter* meter = f.economics->meter(i);
    if (meter == nullptr) continue;
    const config::Endpoint& endpoint = f.config->endpoints[i];
    const EconomicsFamilies::EndpointGauges& g = f.endpoints.at(endpoint.name);
    const ProvisionedMeter::Reading reading = meter->read(endpoint, now);
    for (std::size_t w = 0; w < reading.windows.size(); ++w) {
      const ProvisionedMeter::WindowReading& r = reading.windows[w];
      const double seconds = std::max(r.seconds, 1e-9);
      if (g.tokens_utilization[w]) {
        g.tokens_utilization[w]->Set(r.weighted_tokens /
                                     (endpoint.capacity.output_tokens_per_second * seconds));
      }
      if (g.concurrency_utilization[w]) {
        g.concurrency_utilization[w]->Set(r.busy_request_seconds /
                                          (endpoint.capacity.max_concurrency * seconds));
      }
      g.effective_cost[w]->Set(r.tokens > 0
                                   ? endpoint.hourly_usd * (r.seconds / 3600) / r.tokens * 1e6
                                   : std::numeric_limits<double>::quiet_NaN());
    }
    const std::int64_t unreported = reading.idle.nano_usd - g.idle_cost->value().nano_usd;
    if (unreported > 0) g.idle_cost->add(core::Money{unreported});
  }
}

}  // namespace fulcrum::metering
