#pragma once
// The retry budget: how many upstream attempts beyond each request's first the gateway may
// make, so that an outage cannot multiply the load on what is left.
#include <array>
#include <atomic>
#include <cstdint>

#include "fulcrum/config/policy.hpp"
#include "fulcrum/core/duration.hpp"

namespace fulcrum::router {

// Retries (and moves to the next target) made in the last `window` stay within `ratio` of
// the requests started in it, or within `min_per_second` × window when that is more, so a
// quiet gateway can still fall back. The floor is the larger of the two rather than a reserve
// added on top (Finagle's), so once a storm is busy enough to pass the floor, attempts stay
// at most (1 + ratio) × requests. Counted in one-second slots, lock-free: one atomic add per
// request, a scan of the window per retry.
class RetryBudget {
 public:
  explicit RetryBudget(const config::RetryBudgetPolicy& policy) { set_policy(policy); }
  // A reloaded config may change the policy; what was counted stays.
  void set_policy(const config::RetryBudgetPolicy& policy);

  void count_request(core::Clock::time_point now);
  // Takes a retry from the budget when there is one left in the window.
  bool try_acquire_retry(core::Clock::time_point now);
  // Counts an attempt the budget may not refuse (a request's first move to another target,
  // bounded by that target's circuit breaker instead): it still uses up the window's room,
  // so budgeted retries stop first in a storm.
  void count_retry(core::Clock::time_point now);

 private:
  static constexpr std::size_t kSlots = config::RetryBudgetPolicy::kMaxWindowSeconds + 4;

  std::atomic<double> ratio_{0};
  std::atomic<double> floor_{0};  // retries per window however quiet it is
  std::atomic<std::uint32_t> window_seconds_{1};
  // Each slot packs {second (24 bits), retries (16), requests (24)} so a slot is moved on to
  // a new second and counted into with one compare-and-swap, never losing a count.
  std::array<std::atomic<std::uint64_t>, kSlots> slots_{};
};

}  // namespace fulcrum::router
