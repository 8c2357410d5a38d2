#pragma once
// Spend limits per key, team or globally, per day or month in a time zone. A request reserves
// its estimated cost in every budget that covers it before it is sent, and settles the real
// cost when it ends, so concurrent requests cannot overshoot a hard limit by more than the
// difference between estimates and real costs of what is in flight.
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/core/time_zone.hpp"

namespace fulcrum::metering {

// The current period of a budget: [start, end).
struct Period {
  core::WallTime start;
  core::WallTime end;
};
Period period_at(const config::Budget& budget, core::WallTime now);

struct BudgetAdmission {
  bool allowed = true;
  std::optional<std::size_t> refused_by;  // the hard budget that said no
  std::chrono::seconds retry_after{0};    // until that budget's period resets
  // Set when that budget is not exhausted but this request's estimate exceeds what is left
  // of it (after what requests in flight hold): the refusal says so rather than "exhausted".
  std::optional<core::Money> left;
  std::optional<std::size_t> downgrade_to;  // alias: a soft limit with on_soft is reached
  std::optional<std::size_t> soft_budget;   // which budget asked for the downgrade
};

class BudgetBook {
 public:
  explicit BudgetBook(const config::Config& config);
  // For a reloaded config: a budget with the same name, scope and period as one of
  // `previous` keeps its spend and reservations (requests in flight settle into them).
  BudgetBook(const config::Config& config, const BudgetBook& previous);
  ~BudgetBook();

  // Whether budget `index` continues one of the book it was built from.
  bool carried_over(std::size_t index) const { return carried_[index]; }

  // Whether budget `index` covers requests of this key and team.
  bool covers(std::size_t index, std::string_view key_id, std::string_view team) const;

  // Checks soft limits only (before routing, to pick a downgrade alias).
  BudgetAdmission check_soft(std::string_view key_id, std::string_view team, core::WallTime now);
  // Reserves `estimate` in every covering budget, or in none if a hard limit would be passed.
  BudgetAdmission reserve(std::string_view key_id, std::string_view team, core::Money estimate,
                          core::WallTime now);
  // Releases the reservation and adds the real cost.
  void settle(std::string_view key_id, std::string_view team, core::Money reserved,
              core::Money actual, core::WallTime now);

  // Spend already recorded in the current period (from the ledger, at start).
  void restore(std::size_t index, core::Money spent, core::WallTime now);
  // Spend across every replica sharing state, as Redis last reported it for the period that
  // includes `now`: this book's spend is at least that, so that soft limits see it and, with
  // Redis away, hard limits go on from it.
  void observe_spent(std::size_t index, core::Money spent, core::WallTime now);

  core::Money spent(std::size_t index, core::WallTime now);
  // Held by requests in flight: 0 whenever none is.
  core::Money reserved(std::size_t index);
  std::size_t size() const { return states_.size(); }

 private:
  struct State;
  const config::Config& config_;
  std::vector<std::shared_ptr<State>> states_;
  std::vector<bool> carried_;
};

// What one request holds in the budgets that cover it, from admission until it ends. settle()
// releases the hold and adds the real cost; a reservation still held when it goes out of
// scope (an exception, an early return, a destroyed coroutine) is released with nothing
// spent, so no path can leave a hard budget holding money nobody will settle.
class BudgetReservation {
 public:
  BudgetReservation() = default;  // holds nothing
  // After a successful BudgetBook::reserve(): `key_id` and `team` must outlive this.
  BudgetReservation(BudgetBook& book, std::string_view key_id, std::string_view team,
                    core::Money reserved)
      : book_(&book), key_id_(key_id), team_(team), reserved_(reserved) {}
  BudgetReservation(BudgetReservation&& other) noexcept { *this = std::move(other); }
  BudgetReservation& operator=(BudgetReservation&& other) noexcept;
  ~BudgetReservation() { settle(core::Money{}, core::WallClock::now()); }

  bool held() const { return book_ != nullptr; }
  core::Money reserved() const { return reserved_; }
  // Releases the reservation and adds `actual` to every covering budget's spend; once.
  void settle(core::Money actual, core::WallTime now);

 private:
  BudgetBook* book_ = nullptr;
  std::string_view key_id_;
  std::string_view team_;
  core::Money reserved_;
};

}  // namespace fulcrum::metering
