#include "fulcrum/router/retry_policy.hpp"

#include <algorithm>
#include <array>

namespace fulcrum::router {
namespace {

// The three-digit statuses an upstream can send, as labels without an allocation.
std::string_view status_label(unsigned status) {
  static const auto labels = [] {
    std::array<char[4], 600> text{};
    for (unsigned s = 100; s < 600; ++s) {
      text[s][0] = static_cast<char>('0' + s / 100);
      text[s][1] = static_cast<char>('0' + s / 10 % 10);
      text[s][2] = static_cast<char>('0' + s % 10);
    }
    return text;
  }();
  if (status < 100 || status >= 600) return "status";
  return {labels[status], 3};
}

std::optional<config::RetryOn> retry_kind(const AttemptFailure& failure) {
  switch (failure.kind) {
    case AttemptFailure::Kind::connect:
    case AttemptFailure::Kind::reset:
      return config::RetryOn::connect;
    case AttemptFailure::Kind::timeout:
      return config::RetryOn::timeout;
    case AttemptFailure::Kind::status:
      if (failure.status == 429) return config::RetryOn::status_429;
      if (failure.status >= 500) return config::RetryOn::status_5xx;
      return std::nullopt;
    case AttemptFailure::Kind::redirect:
      return std::nullopt;  // the same target would redirect again
  }
  return std::nullopt;
}

}  // namespace

std::string_view AttemptFailure::label() const {
  switch (kind) {
    case Kind::connect:
      return "connect";
    case Kind::timeout:
      return "timeout";
    case Kind::reset:
      return "reset";
    case Kind::status:
      return status_label(status);
    case Kind::redirect:
      return "redirect";
  }
  return "reset";
}

core::Duration RetryPolicy::backoff(unsigned retry, std::uint64_t random) const {
  const auto step = std::min<core::Duration::rep>(
      policy_.backoff_max.count(), policy_.backoff_base.count() << std::min(retry, 20u));
  const auto half = step / 2;
  return core::Duration(half +
                        (half > 0 ? static_cast<core::Duration::rep>(random % (half + 1)) : 0));
}

bool RetryPolicy::may_retry_same(const AttemptFailure& failure, const RetryState& state) const {
  if (state.target_open || failure.exhausted || state.retries_on_target >= policy_.max) {
    return false;
  }
  const auto kind = retry_kind(failure);
  return kind && policy_.retries_on(*kind);
}

RetryDecision RetryPolicy::next(const AttemptFailure& failure, const RetryState& state,
                                RetryBudget& budget, core::Clock::time_point now,
                                std::uint64_t random) const {
  RetryDecision decision;
  if (failure.rate_limited() && state.spill_on_429) {
    // Provisioned and full: it declined before doing any work. Spilling is the normal
    // overflow path, not load amplification, so it spends nothing.
    if (state.another_target) {
      decision.action = RetryDecision::Action::next_target;
      decision.spill = true;
    }
    return decision;
  }
  if (may_retry_same(failure, state)) {
    core::Duration wait = backoff(state.retries_on_target, random);
    bool wait_acceptable = true;
    if (failure.retry_after) {
      // Too long to wait for: the next target is tried instead.
      wait_acceptable = *failure.retry_after <= policy_.max_retry_after;
      wait = *failure.retry_after;
    }
    if (wait_acceptable && budget.try_acquire_retry(now)) {
      decision.action = RetryDecision::Action::retry_same;
      decision.after = wait;
      return decision;
    }
    // No room for a same-target retry: moving on may still be allowed.
  }
  if (!state.another_target) return decision;
  if (state.moves == 0) {
    budget.count_retry(now);
    decision.action = RetryDecision::Action::next_target;
    return decision;
  }
  if (budget.try_acquire_retry(now)) {
    decision.action = RetryDecision::Action::next_target;
    return decision;
  }
  decision.budget_refused = true;
  return decision;
}

}  // namespace fulcrum::router
