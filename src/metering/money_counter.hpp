#pragma once
// A Prometheus counter family whose samples are integer nano-dollars, converted to a decimal
// only at exposition, so sums over millions of requests never drift.
#include <prometheus/collectable.h>
#include <prometheus/labels.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>

#include "fulcrum/core/money.hpp"

namespace fulcrum::metering {

class MoneyCell {
 public:
  void add(core::Money amount) { nano_usd_.fetch_add(amount.nano_usd, std::memory_order_relaxed); }
  core::Money value() const { return core::Money{nano_usd_.load(std::memory_order_relaxed)}; }

 private:
  std::atomic<std::int64_t> nano_usd_{0};
};

class MoneyCounterFamily : public prometheus::Collectable {
 public:
  MoneyCounterFamily(std::string name, std::string help);

  // The cell for these labels, created on first use. Addresses are stable for the family's
  // life, so callers look a cell up once (at config build) and add to it lock-free after.
  MoneyCell& add(const prometheus::Labels& labels);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string name_;
  std::string help_;
  mutable std::mutex mutex_;  // guards the list of cells, not their values
  std::deque<std::pair<prometheus::Labels, MoneyCell>> cells_;
};

}  // namespace fulcrum::metering
