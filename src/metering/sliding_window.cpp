#include "fulcrum/metering/sliding_window.hpp"

#include <algorithm>

namespace fulcrum::metering {

SlidingWindow::SlidingWindow(core::Duration bucket, std::size_t buckets)
    : bucket_(bucket), slots_(buckets) {}

std::int64_t SlidingWindow::bucket_of(TimePoint t) const {
  return std::chrono::duration_cast<core::Duration>(t.time_since_epoch()).count() / bucket_.count();
}

SlidingWindow::Slot& SlidingWindow::slot(std::int64_t id) {
  Slot& s = slots_[static_cast<std::size_t>(id) % slots_.size()];
  if (s.id != id) s = Slot{id, 0};  // it held a bucket that has left the window
  return s;
}

void SlidingWindow::add(TimePoint at, double value) { slot(bucket_of(at)).value += value; }

void SlidingWindow::add_interval(TimePoint from, TimePoint to, double rate) {
  if (to <= from || rate == 0) return;
  const std::int64_t last = bucket_of(to - std::chrono::nanoseconds(1));
  // Buckets older than the window would be overwritten at once: skip them.
  const std::int64_t first =
      std::max(bucket_of(from), last - static_cast<std::int64_t>(slots_.size()) + 1);
  for (std::int64_t id = first; id <= last; ++id) {
    const TimePoint bucket_start{std::chrono::duration_cast<core::Clock::duration>(bucket_ * id)};
    const TimePoint start = std::max(from, bucket_start);
    const TimePoint end = std::min(to, bucket_start + bucket_);
    slot(id).value += rate * std::chrono::duration<double>(end - start).count();
  }
}

double SlidingWindow::sum(TimePoint now) const {
  const std::int64_t newest = bucket_of(now);
  const std::int64_t oldest = newest - static_cast<std::int64_t>(slots_.size()) + 1;
  double total = 0;
  for (const Slot& s : slots_) {
    if (s.id >= oldest && s.id <= newest) total += s.value;
  }
  return total;
}

}  // namespace fulcrum::metering
