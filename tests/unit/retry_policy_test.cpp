// RetryPolicy::next as a pure decision: a failure, where the request stands, a retry budget
// on injected time.
#include "fulcrum/router/retry_policy.hpp"

#include <gtest/gtest.h>

namespace fulcrum::router {
namespace {

using Action = RetryDecision::Action;
using Kind = AttemptFailure::Kind;
using namespace std::chrono_literals;

const core::Clock::time_point kNow = core::Clock::time_point{} + 1000h;

AttemptFailure status(unsigned code, std::optional<core::Duration> retry_after = std::nullopt) {
  return AttemptFailure{Kind::status, code, retry_after};
}

config::RetryPolicy retries(unsigned max) {
  config::RetryPolicy policy;
  policy.max = max;
  return policy;
}

// A budget that has counted `requests` requests at kNow: with the default policy (ratio 0.2,
// floor 10 per window), it grants max(10, requests / 5) retries.
struct Budget : RetryBudget {
  explicit Budget(int requests) : RetryBudget(config::RetryBudgetPolicy{}) {
    for (int i = 0; i < requests; ++i) count_request(kNow);
  }
};

TEST(RetryPolicy, RetriesTheSameTargetWithinMaxThenMovesOn) {
  const config::RetryPolicy policy = retries(2);
  Budget budget(1);
  RetryState state{.another_target = true};
  for (unsigned retry = 0; retry < 2; ++retry) {
    state.retries_on_target = retry;
    const RetryDecision d = RetryPolicy(policy).next(status(503), state, budget, kNow, 0);
    EXPECT_EQ(d.action, Action::retry_same) << retry;
    // Equal jitter: half of base << retry fixed, the other half random (0 here).
    EXPECT_EQ(d.after, core::Duration((policy.backoff_base.count() << retry) / 2)) << retry;
  }
  state.retries_on_target = 2;
  EXPECT_EQ(RetryPolicy(policy).next(status(503), state, budget, kNow, 0).action,
            Action::next_target);
  state.another_target = false;
  EXPECT_EQ(RetryPolicy(policy).next(status(503), state, budget, kNow, 0).action, Action::stop);
}

TEST(RetryPolicy, SameTargetRetriesSpendTheBudgetAndLoseFirst) {
  Budget budget(1);  // a floor of 10 retries in the window
  const RetryPolicy policy(retries(100));
  RetryState state{.another_target = true};
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(policy.next(status(500), state, budget, kNow, 0).action, Action::retry_same) << i;
  }
  // The budget is spent: no more same-target retries, but the first move is never refused.
  const RetryDecision move = policy.next(status(500), state, budget, kNow, 0);
  EXPECT_EQ(move.action, Action::next_target);
  EXPECT_FALSE(move.budget_refused);
  // A second move is budgeted like a retry: refused now.
  state.moves = 1;
  const RetryDecision refused = policy.next(status(500), state, budget, kNow, 0);
  EXPECT_EQ(refused.action, Action::stop);
  EXPECT_TRUE(refused.budget_refused);
}

TEST(RetryPolicy, FirstMovesCountInTheWindowSoBudgetedRetriesStopInAStorm) {
  Budget budget(100);  // room for 20 retries
  const RetryPolicy policy(retries(0));
  const RetryState state{.another_target = true};
  // 100 requests each move once, freely: 100 counted against a room of 20.
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(policy.next(status(503), state, budget, kNow, 0).action, Action::next_target);
  }
  EXPECT_FALSE(budget.try_acquire_retry(kNow));
  // Ten seconds later the window has moved on, and room comes back.
  EXPECT_TRUE(budget.try_acquire_retry(kNow + 11s));
}

TEST(RetryPolicy, AProvisionedEndpointsFull429SpillsWithoutSpending) {
  RetryBudget budget{config::RetryBudgetPolicy{.ratio = 0, .min_per_second = 0}};
  const RetryPolicy policy(retries(3));
  RetryState state{.spill_on_429 = true, .another_target = true};
  const RetryDecision spill = policy.next(status(429), state, budget, kNow, 0);
  EXPECT_EQ(spill.action, Action::next_target);
  EXPECT_TRUE(spill.spill);
  state.another_target = false;
  EXPECT_EQ(policy.next(status(429), state, budget, kNow, 0).action, Action::stop);
  // Any other failure of the same endpoint is not a spill.
  state.another_target = true;
  EXPECT_FALSE(policy.next(status(503), state, budget, kNow, 0).spill);
}

TEST(RetryPolicy, RetryAfterIsWaitedForUnlessLongerThanTheRouteAllows) {
  Budget budget(1);
  config::RetryPolicy config = retries(2);
  config.max_retry_after = 5s;
  const RetryPolicy policy(config);
  const RetryState state{.another_target = true};
  const RetryDecision wait = policy.next(status(429, 3s), state, budget, kNow, 0);
  EXPECT_EQ(wait.action, Action::retry_same);
  EXPECT_EQ(wait.after, 3s);
  EXPECT_EQ(policy.next(status(429, 20s), state, budget, kNow, 0).action, Action::next_target);
}

TEST(RetryPolicy, NoSameTargetRetryOnAnOpenCircuitARedirectOrAnUnlistedKind) {
  Budget budget(1);
  config::RetryPolicy config = retries(3);
  config.on = static_cast<std::uint8_t>(config::RetryOn::status_5xx);
  const RetryPolicy policy(config);
  RetryState state{.another_target = true};
  EXPECT_EQ(policy.next(status(503), state, budget, kNow, 0).action, Action::retry_same);
  EXPECT_EQ(
      policy.next(AttemptFailure{Kind::timeout, 0, std::nullopt}, state, budget, kNow, 0).action,
      Action::next_target);
  EXPECT_EQ(
      policy.next(AttemptFailure{Kind::redirect, 0, std::nullopt}, state, budget, kNow, 0).action,
      Action::next_target);
  state.target_open = true;
  EXPECT_EQ(policy.next(status(503), state, budget, kNow, 0).action, Action::next_target);
}

TEST(RetryPolicy, FailureLabelsNameTheStatusOrTheKind) {
  EXPECT_EQ(status(503).label(), "503");
  EXPECT_EQ(status(429).label(), "429");
  const auto of = [](Kind kind) { return AttemptFailure{kind, 0, std::nullopt}; };
  EXPECT_EQ(of(Kind::timeout).label(), "timeout");
  EXPECT_EQ(of(Kind::connect).label(), "connect");
  EXPECT_EQ(of(Kind::reset).label(), "reset");
  EXPECT_TRUE(status(429).rate_limited());
  EXPECT_FALSE(status(503).rate_limited());
}

}  // namespace
}  // namespace fulcrum::router
