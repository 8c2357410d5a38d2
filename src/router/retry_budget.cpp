#include "fulcrum/router/retry_budget.hpp"

#include <algorithm>
#include <chrono>

namespace fulcrum::router {
namespace {

constexpr std::uint64_t kRequestBits = 24;
constexpr std::uint64_t kRetryBits = 16;
constexpr std::uint64_t kMaxRequests = (std::uint64_t{1} << kRequestBits) - 1;
constexpr std::uint64_t kMaxRetries = (std::uint64_t{1} << kRetryBits) - 1;
constexpr std::uint64_t kSecondMask = (std::uint64_t{1} << 24) - 1;
constexpr std::uint64_t kRetryShift = kRequestBits;
constexpr std::uint64_t kSecondShift = kRequestBits + kRetryBits;

struct Slot {
  std::uint64_t second = 0;  // low 24 bits of the second it counts
  std::uint64_t retries = 0;
  std::uint64_t requests = 0;

  static Slot unpack(std::uint64_t word) {
    return {word >> kSecondShift, (word >> kRetryShift) & kMaxRetries, word & kMaxRequests};
  }
  std::uint64_t pack() const {
    return (second << kSecondShift) | (retries << kRetryShift) | requests;
  }
};

std::uint64_t second_of(core::Clock::time_point now) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

// The slot's counts if it holds `second`, empty counts for `second` if it holds an older one.
Slot counts_for(std::uint64_t word, std::uint64_t second) {
  const Slot slot = Slot::unpack(word);
  if (slot.second == (second & kSecondMask)) return slot;
  return Slot{second & kSecondMask, 0, 0};
}

}  // namespace

void RetryBudget::set_policy(const config::RetryBudgetPolicy& policy) {
  const auto window = std::clamp<std::uint32_t>(policy.window_seconds, 1,
                                                config::RetryBudgetPolicy::kMaxWindowSeconds);
  ratio_.store(policy.ratio, std::memory_order_relaxed);
  floor_.store(policy.min_per_second * window, std::memory_order_relaxed);
  window_seconds_.store(window, std::memory_order_relaxed);
}

void RetryBudget::count_request(core::Clock::time_point now) {
  const std::uint64_t second = second_of(now);
  std::atomic<std::uint64_t>& slot = slots_[second % kSlots];
  std::uint64_t word = slot.load(std::memory_order_relaxed);
  Slot next;
  do {
    next = counts_for(word, second);
    next.requests = std::min(next.requests + 1, kMaxRequests);
  } while (!slot.compare_exchange_weak(word, next.pack(), std::memory_order_relaxed));
}

bool RetryBudget::try_acquire_retry(core::Clock::time_point now) {
  const std::uint64_t second = second_of(now);
  const std::uint32_t window = window_seconds_.load(std::memory_order_relaxed);
  // The window's earlier seconds; only the current one can still change under us.
  std::uint64_t requests = 0;
  std::uint64_t retries = 0;
  for (std::uint64_t back = 1; back < window && back <= second; ++back) {
    const std::uint64_t earlier = second - back;
    const Slot slot = Slot::unpack(slots_[earlier % kSlots].load(std::memory_order_relaxed));
    if (slot.second != (earlier & kSecondMask)) continue;  // nothing counted that second
    requests += slot.requests;
    retries += slot.retries;
  }
  const double ratio = ratio_.load(std::memory_order_relaxed);
  const double floor = floor_.load(std::memory_order_relaxed);
  std::atomic<std::uint64_t>& current = slots_[second % kSlots];
  std::uint64_t word = current.load(std::memory_order_relaxed);
  Slot next;
  do {
    next = counts_for(word, second);
    const double allowed = std::max(ratio * static_cast<double>(requests + next.requests), floor);
    if (static_cast<double>(retries + next.retries + 1) > allowed) return false;
    if (next.retries == kMaxRetries) return false;
    ++next.retries;
  } while (!current.compare_exchange_weak(word, next.pack(), std::memory_order_relaxed));
  return true;
}

void RetryBudget::count_retry(core::Clock::time_point now) {
  const std::uint64_t second = second_of(now);
  std::atomic<std::uint64_t>& slot = slots_[second % kSlots];
  std::uint64_t word = slot.load(std::memory_order_relaxed);
  Slot next;
  do {
    next = counts_for(word, second);
    next.retries = std::min(next.retries + 1, kMaxRetries);
  } while (!slot.compare_exchange_weak(word, next.pack(), std::memory_order_relaxed));
}

}  // namespace fulcrum::router
