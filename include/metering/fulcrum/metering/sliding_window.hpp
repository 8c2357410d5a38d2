#pragma once
// A sum over the last N buckets of time (60 × 1 s for a minute, 60 × 1 min for an hour):
// fixed memory, no allocation after construction, exact to one bucket.
#include <cstdint>
#include <vector>

#include "fulcrum/core/duration.hpp"

namespace fulcrum::metering {

class SlidingWindow {
 public:
  using TimePoint = core::Clock::time_point;

  SlidingWindow(core::Duration bucket, std::size_t buckets);

  core::Duration length() const { return bucket_ * static_cast<int>(slots_.size()); }
  // Adds `value` to the bucket holding `at`.
  void add(TimePoint at, double value);
  // Adds `rate` per second over [from, to), split across the buckets it covers.
  void add_interval(TimePoint from, TimePoint to, double rate);
  // The sum of the buckets of the last length() up to `now` (the current bucket included).
  double sum(TimePoint now) const;

 private:
  struct Slot {
    std::int64_t id = -1;  // which bucket of time it holds now
    double value = 0;
  };
  std::int64_t bucket_of(TimePoint t) const;
  Slot& slot(std::int64_t id);

  core::Duration bucket_;
  std::vector<Slot> slots_;
};

}  // namespace fulcrum::metering
