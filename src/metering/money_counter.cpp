#include "money_counter.hpp"

#include <prometheus/metric_family.h>

namespace fulcrum::metering {

MoneyCounterFamily::MoneyCounterFamily(std::string name, std::string help)
    : name_(std::move(name)), help_(std::move(help)) {}

MoneyCell& MoneyCounterFamily::add(const prometheus::Labels& labels) {
  std::lock_guard lock(mutex_);
  for (auto& [existing, cell] : cells_) {
    if (existing == labels) return cell;
  }
  return cells_
      .emplace_back(std::piecewise_construct, std::forward_as_tuple(labels),
                    std::forward_as_tuple())
      .second;
}

std::vector<prometheus::MetricFamily> MoneyCounterFamily::Collect() const {
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = prometheus::MetricType::Counter;
  std::lock_guard lock(mutex_);
  for (const auto& [labels, cell] : cells_) {
    prometheus::ClientMetric metric;
    for (const auto& [key, value] : labels) metric.label.push_back({key, value});
    metric.counter.value = cell.value().usd();
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

}  // namespace fulcrum::metering
