#include "fulcrum/metering/budgets.hpp"

#include <spdlog/spdlog.h>

#include <mutex>
#include <utility>

namespace fulcrum::metering {
namespace {

core::WallTime local_midnight(const core::TimeZone& zone, std::int64_t local_day,
                              core::WallTime near) {
  // The offset in effect near that midnight; off by the DST shift on the two days a year
  // when it changes between midnight and `near`.
  const std::int64_t seconds = local_day * 86400 - zone.offset_at(near);
  return core::WallClock::from_time_t(static_cast<std::time_t>(seconds));
}

}  // namespace

Period period_at(const config::Budget& budget, core::WallTime now) {
  const core::LocalTime local = budget.zone.local(now);
  if (budget.period == config::Budget::Period::daily) {
    return {local_midnight(budget.zone, local.local_day, now),
            local_midnight(budget.zone, local.local_day + 1, now + std::chrono::hours(24))};
  }
  const std::int64_t first = core::days_from_civil(local.year, local.month, 1);
  const std::int64_t next = local.month == 12
                                ? core::days_from_civil(local.year + 1, 1, 1)
                                : core::days_from_civil(local.year, local.month + 1, 1);
  return {
      local_midnight(budget.zone, first, now),
      local_midnight(budget.zone, next, now + std::chrono::hours(24) * (next - local.local_day))};
}

// Guarded by its mutex: a budget's admission is a comparison and two additions.
struct BudgetBook::State {
  std::mutex mutex;
  Period period{};
  core::Money spent;           // settled in the current period
  core::Money reserved;        // held by requests in flight
  bool soft_reported = false;  // the limits' log lines, once per period
  bool hard_reported = false;

  // Starts a new period when `now` has left the current one.
  void roll(const config::Budget& budget, core::WallTime now) {
    if (now >= period.start && now < period.end) return;
    period = period_at(budget, now);
    spent = core::Money{};
    soft_reported = false;
    hard_reported = false;
  }
};

BudgetBook::BudgetBook(const config::Config& config) : config_(config) {
  for (std::size_t i = 0; i < config.budgets.size(); ++i) {
    states_.push_back(std::make_shared<State>());
  }
  carried_.assign(states_.size(), false);
}

BudgetBook::BudgetBook(const config::Config& config, const BudgetBook& previous)
    : BudgetBook(config) {
  const auto same_account = [](const config::Budget& a, const config::Budget& b) {
    return a.name == b.name && a.scope == b.scope && a.scope_value == b.scope_value &&
           a.period == b.period && a.zone.name() == b.zone.name();
  };
  for (std::size_t i = 0; i < states_.size(); ++i) {
    for (std::size_t old = 0; old < previous.states_.size(); ++old) {
      if (!same_account(config.budgets[i], previous.config_.budgets[old])) continue;
      states_[i] = previous.states_[old];
      carried_[i] = true;
    }
  }
}

BudgetBook::~BudgetBook() = default;

bool BudgetBook::covers(std::size_t index, std::string_view key_id, std::string_view team) const {
  const config::Budget& budget = config_.budgets[index];
  switch (budget.scope) {
    case config::Budget::Scope::global:
      return true;
    case config::Budget::Scope::key:
      return budget.scope_value == key_id;
    case config::Budget::Scope::team:
      return budget.scope_value == team;
  }
  return false;
}

BudgetAdmission BudgetBook::check_soft(std::string_view key_id, std::string_view team,
                                       core::WallTime now) {
  BudgetAdmission admission;
  for (std::size_t i = 0; i < states_.size(); ++i) {
    const config::Budget& budget = config_.budgets[i];
    if (!budget.soft || !covers(i, key_id, team)) continue;
    State& state = *states_[i];
    const std::lock_guard lock(state.mutex);
    state.roll(budget, now);
    if (state.spent >= *budget.soft) {
      if (!state.soft_reported) {
        state.soft_reported = true;
        spdlog::warn("budget_soft_limit_reached budget={} spent_usd={} soft_usd={}{}", budget.name,
                     state.spent.to_decimal(), budget.soft->to_decimal(),
                     budget.downgrade_to ? " action=downgrade" : "");
      }
      if (!admission.soft_budget) admission.soft_budget = i;
      if (budget.downgrade_to && !admission.downgrade_to) {
        admission.downgrade_to = budget.downgrade_to;
        admission.soft_budget = i;
      }
    }
  }
  return admission;
}

BudgetAdmission BudgetBook::reserve(std::string_view key_id, std::string_view team,
                                    core::Money estimate, core::WallTime now) {
  BudgetAdmission admission;
  std::vector<std::size_t> taken;
  for (std::size_t i = 0; i < states_.size(); ++i) {
    if (!covers(i, key_id, team)) continue;
    const config::Budget& budget = config_.budgets[i];
    State& state = *states_[i];
    const std::lock_guard lock(state.mutex);
    state.roll(budget, now);
    if (budget.hard && state.spent + state.reserved + estimate > *budget.hard) {
      if (state.spent + state.reserved <= *budget.hard && !state.hard_reported) {
        state.hard_reported = true;
        spdlog::warn("budget_hard_limit_reached budget={} spent_usd={} hard_usd={}", budget.name,
                     state.spent.to_decimal(), budget.hard->to_decimal());
      }
      admission.allowed = false;
      admission.refused_by = i;
      if (state.spent + state.reserved < *budget.hard) {
        admission.left =
            core::Money{budget.hard->nano_usd - (state.spent + state.reserved).nano_usd};
      }
      admission.retry_after = std::chrono::ceil<std::chrono::seconds>(state.period.end - now);
      break;
    }
    state.reserved += estimate;
    taken.push_back(i);
  }
  if (!admission.allowed) {
    for (std::size_t i : taken) {
      State& state = *states_[i];
      const std::lock_guard lock(state.mutex);
      state.reserved += core::Money{-estimate.nano_usd};
    }
  }
  return admission;
}

void BudgetBook::settle(std::string_view key_id, std::string_view team, core::Money reserved,
                        core::Money actual, core::WallTime now) {
  for (std::size_t i = 0; i < states_.size(); ++i) {
    if (!covers(i, key_id, team)) continue;
    State& state = *states_[i];
    const std::lock_guard lock(state.mutex);
    state.roll(config_.budgets[i], now);
    state.reserved += core::Money{-reserved.nano_usd};
    state.spent += actual;
  }
}

core::Money BudgetBook::reserved(std::size_t index) {
  State& state = *states_[index];
  const std::lock_guard lock(state.mutex);
  return state.reserved;
}

BudgetReservation& BudgetReservation::operator=(BudgetReservation&& other) noexcept {
  if (this != &other) {
    settle(core::Money{}, core::WallClock::now());
    book_ = std::exchange(other.book_, nullptr);
    key_id_ = other.key_id_;
    team_ = other.team_;
    reserved_ = std::exchange(other.reserved_, core::Money{});
  }
  return *this;
}

void BudgetReservation::settle(core::Money actual, core::WallTime now) {
  if (book_ == nullptr) return;
  std::exchange(book_, nullptr)->settle(key_id_, team_, reserved_, actual, now);
}

void BudgetBook::restore(std::size_t index, core::Money spent, core::WallTime now) {
  State& state = *states_[index];
  const std::lock_guard lock(state.mutex);
  state.roll(config_.budgets[index], now);
  state.spent += spent;
}

void BudgetBook::observe_spent(std::size_t index, core::Money spent, core::WallTime now) {
  State& state = *states_[index];
  const std::lock_guard lock(state.mutex);
  state.roll(config_.budgets[index], now);
  state.spent = std::max(state.spent, spent);
}

core::Money BudgetBook::spent(std::size_t index, core::WallTime now) {
  State& state = *states_[index];
  const std::lock_guard lock(state.mutex);
  state.roll(config_.budgets[index], now);
  return state.spent;
}

}  // namespace fulcrum::metering
