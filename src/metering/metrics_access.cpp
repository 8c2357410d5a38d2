#include <array>

#include "access_families.hpp"
#include "counter_grid.hpp"

namespace fulcrum::metering {
namespace {

constexpr std::array<std::string_view, 3> kBudgetActions{"rejected", "downgraded", "soft_exceeded"};

}  // namespace

Metrics::AccessFamilies::AccessFamilies(prometheus::Registry& registry)
    : budget_spend(prometheus::BuildGauge()
                       .Name("fulcrum_budget_spend_usd")
                       .Help("Spend in the budget's current period (settled requests).")
                       .Register(registry)),
      budget_reserved(prometheus::BuildGauge()
                          .Name("fulcrum_budget_reserved_usd")
                          .Help("Estimated cost held in the budget by requests in flight (0 "
                                "when none is).")
                          .Register(registry)),
      budget_limit(prometheus::BuildGauge()
                       .Name("fulcrum_budget_limit_usd")
                       .Help("A budget's limits: kind=soft or hard.")
                       .Register(registry)),
      budget_actions(prometheus::BuildCounter()
                         .Name("fulcrum_budget_actions_total")
                         .Help("What budgets did: rejected (hard limit, 429), downgraded (soft "
                               "limit, cheaper alias), soft_exceeded (soft limit, no downgrade).")
                         .Register(registry)),
      ledger_rows(prometheus::BuildCounter()
                      .Name("fulcrum_ledger_rows_total")
                      .Help("Ledger rows by result: written, dropped (queue full), failed "
                            "(the store refused the batch).")
                      .Register(registry)),
      ledger_queue(prometheus::BuildGauge()
                       .Name("fulcrum_ledger_queue_rows")
                       .Help("Ledger rows waiting for the next batch commit.")
                       .Register(registry)
                       .Add({})),
      ledger_spool(prometheus::BuildGauge()
                       .Name("fulcrum_ledger_spool_rows")
                       .Help("Ledger rows kept in the local spool because PostgreSQL could not "
                             "take them; they move over, oldest first, when it can.")
                       .Register(registry)
                       .Add({})) {}

void Metrics::bind_access(const config::Config& config, MeterTable& table) {
  AccessFamilies& f = *access_;
  CounterGrid::Axis budgets;
  for (const config::Budget& budget : config.budgets) {
    budgets.push_back({{"budget", budget.name}});
    table.budget_spend.push_back(&f.budget_spend.Add({{"budget", budget.name}}));
    table.budget_reserved.push_back(&f.budget_reserved.Add({{"budget", budget.name}}));
    if (budget.soft) {
      f.budget_limit.Add({{"budget", budget.name}, {"kind", "soft"}}).Set(budget.soft->usd());
    }
    if (budget.hard) {
      f.budget_limit.Add({{"budget", budget.name}, {"kind", "hard"}}).Set(budget.hard->usd());
    }
  }
  CounterGrid::Axis actions;
  for (std::string_view action : kBudgetActions)
    actions.push_back({{"action", std::string(action)}});
  if (budgets.empty()) budgets.push_back({{"budget", "none"}});  // a grid needs every axis
  table.budget_actions = std::make_unique<CounterGrid>(
      f.budget_actions, std::vector<CounterGrid::Axis>{std::move(budgets), std::move(actions)});
}

void Metrics::budget_action(const MeterTable& table, std::size_t budget, std::string_view action) {
  for (std::size_t a = 0; a < kBudgetActions.size(); ++a) {
    if (kBudgetActions[a] == action) table.budget_actions->at({budget, a}).Increment();
  }
}

void Metrics::watch_budgets(const MeterTable& table, std::shared_ptr<BudgetBook> budgets) {
  const std::lock_guard lock(access_->mutex);
  access_->budgets = std::move(budgets);
  access_->spend_gauges = table.budget_spend;
  access_->reserved_gauges = table.budget_reserved;
}

void Metrics::watch_ledger(const LedgerStats* stats) {
  const std::lock_guard lock(access_->mutex);
  access_->ledger = stats;
  for (const char* result : {"written", "dropped", "failed"}) {
    access_->ledger_rows.Add({{"result", result}});
  }
}

void Metrics::refresh_watched() {
  AccessFamilies& f = *access_;
  const std::lock_guard lock(f.mutex);
  if (f.budgets) {
    const auto now = core::WallClock::now();
    for (std::size_t i = 0; i < f.spend_gauges.size(); ++i) {
      f.spend_gauges[i]->Set(f.budgets->spent(i, now).usd());
      f.reserved_gauges[i]->Set(f.budgets->reserved(i).usd());
    }
  }
  if (f.ledger != nullptr) {
    const auto advance = [&f](const char* result, std::uint64_t now_value, std::uint64_t& seen) {
      if (now_value > seen)
        f.ledger_rows.Add({{"result", result}}).Increment(double(now_value - seen));
      seen = now_value;
    };
    advance("written", f.ledger->written.load(), f.seen_written);
    advance("dropped", f.ledger->dropped.load(), f.seen_dropped);
    advance("failed", f.ledger->failed.load(), f.seen_failed);
    f.ledger_queue.Set(static_cast<double>(f.ledger->queued.load()));
    f.ledger_spool.Set(static_cast<double>(f.ledger->spooled.load()));
  }
}

}  // namespace fulcrum::metering
