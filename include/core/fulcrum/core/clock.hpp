#pragma once
// Time as Fulcrum reads it: the steady clock for deadlines, durations and decisions, the
// system clock for calendar time (budget periods, windows, the ledger). Both may be moved
// forward by a test, never by production code: a component test lets a 30 s cooldown or a
// budget's midnight pass without waiting for it. Timers are armed with durations measured on
// these clocks, so they still fire after the real time asked for.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace fulcrum::core {

namespace detail {
// Added to both clocks; 0 unless a test advanced them. Read relaxed: a test advances between
// requests, never during one it makes assertions about.
inline std::atomic<std::int64_t> clock_offset_ns{0};
}  // namespace detail

struct Clock {
  using duration = std::chrono::steady_clock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::steady_clock::time_point;
  static constexpr bool is_steady = true;

  static time_point now() noexcept {
    return std::chrono::steady_clock::now() +
           std::chrono::nanoseconds(detail::clock_offset_ns.load(std::memory_order_relaxed));
  }
};

struct WallClock {
  using duration = std::chrono::system_clock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::system_clock::time_point;
  static constexpr bool is_steady = false;

  static time_point now() noexcept {
    return std::chrono::system_clock::now() +
           std::chrono::duration_cast<duration>(
               std::chrono::nanoseconds(detail::clock_offset_ns.load(std::memory_order_relaxed)));
  }
  static std::time_t to_time_t(time_point t) noexcept {
    return std::chrono::system_clock::to_time_t(t);
  }
  static time_point from_time_t(std::time_t t) noexcept {
    return std::chrono::system_clock::from_time_t(t);
  }
};

using WallTime = WallClock::time_point;

inline double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// For tests: every later reading of both clocks is `by` later. Time never goes back.
inline void advance_clocks(std::chrono::nanoseconds by) {
  if (by.count() > 0) detail::clock_offset_ns.fetch_add(by.count(), std::memory_order_relaxed);
}

}  // namespace fulcrum::core
