#pragma once
// Budget and ledger metrics' families, shared by metrics.cpp and metrics_access.cpp.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <vector>

#include "fulcrum/metering/budgets.hpp"
#include "fulcrum/metering/ledger.hpp"
#include "fulcrum/metering/metrics.hpp"

namespace fulcrum::metering {

struct Metrics::AccessFamilies {
  explicit AccessFamilies(prometheus::Registry& registry);

  prometheus::Family<prometheus::Gauge>& budget_spend;
  prometheus::Family<prometheus::Gauge>& budget_reserved;
  prometheus::Family<prometheus::Gauge>& budget_limit;
  prometheus::Family<prometheus::Counter>& budget_actions;
  prometheus::Family<prometheus::Counter>& ledger_rows;
  prometheus::Gauge& ledger_queue;
  prometheus::Gauge& ledger_spool;

  // What scrapes refresh: guarded because scrapes may overlap.
  std::mutex mutex;
  std::shared_ptr<BudgetBook> budgets;
  std::vector<prometheus::Gauge*> spend_gauges;
  std::vector<prometheus::Gauge*> reserved_gauges;
  const LedgerStats* ledger = nullptr;
  std::uint64_t seen_written = 0, seen_dropped = 0, seen_failed = 0;
};

}  // namespace fulcrum::metering
