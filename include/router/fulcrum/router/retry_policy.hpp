#pragma once
// What to do after an upstream attempt failed before any byte reached the client: retry the
// same target, move to the next one, or stop, and after how long. A decision, not an action
// (Envoy's RetryState): the failure, where the request stands, the retry budget and the time
// go in; no I/O, no sleeping, no logging.
//
// The bound it keeps: a request's first move to another target is always allowed while that
// target's circuit is closed (the breaker bounds it, not the budget), and is counted in the
// budget's window; same-target retries and later moves spend from the budget and lose first.
// With every target failing, attempts stay within 2 x requests (+ the budget's floor) until
// the breakers open, and within (1 + ratio) x after.
#include <cstdint>
#include <optional>
#include <string_view>

#include "fulcrum/config/policy.hpp"
#include "fulcrum/core/duration.hpp"
#include "fulcrum/router/retry_budget.hpp"

namespace fulcrum::router {

// How an attempt failed.
struct AttemptFailure {
  enum class Kind { connect, timeout, reset, status, redirect };
  Kind kind = Kind::reset;
  unsigned status = 0;                        // with Kind::status: the upstream's HTTP status
  std::optional<core::Duration> retry_after;  // the upstream's Retry-After, when it sent one
  // A spend limit or quota, not a rate: this target cannot serve before it resets, so it is
  // not retried (another target may be tried).
  bool exhausted = false;

  // For x-fulcrum-reason ("retry:503", "fallback:timeout"): the status, else the kind.
  std::string_view label() const;
  // Whether it says "busy" rather than "broken".
  bool rate_limited() const { return kind == Kind::status && status == 429; }
};

// Where the request stands once the attempt failed.
struct RetryState {
  unsigned retries_on_target = 0;  // retries already made on the target that just failed
  unsigned moves = 0;              // moves to another target already made, spills aside
  bool spill_on_429 = false;       // that target is provisioned and answers 429 when full
  bool target_open = false;        // its circuit is open now (this failure may have opened it)
  bool another_target = false;     // a later candidate whose circuit is not open exists
};

struct RetryDecision {
  enum class Action { retry_same, next_target, stop };
  Action action = Action::stop;
  core::Duration after{0};      // with retry_same: the backoff, or the upstream's Retry-After
  bool spill = false;           // with next_target: a provisioned endpoint was full, not broken
  bool budget_refused = false;  // with stop: the retry budget had no room for another attempt
};

class RetryPolicy {
 public:
  explicit RetryPolicy(const config::RetryPolicy& policy) : policy_(policy) {}

  // Takes from `budget` what the decision spends. `random`: uniform bits for the jitter.
  RetryDecision next(const AttemptFailure& failure, const RetryState& state, RetryBudget& budget,
                     core::Clock::time_point now, std::uint64_t random) const;

  // Exponential backoff with equal jitter: half of the step fixed, half random.
  core::Duration backoff(unsigned retry, std::uint64_t random) const;

 private:
  bool may_retry_same(const AttemptFailure& failure, const RetryState& state) const;

  config::RetryPolicy policy_;  // a copy: a few numbers
};

}  // namespace fulcrum::router
