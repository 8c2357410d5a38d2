#pragma once
// Wall-clock time in a named zone, for off-peak windows and prewarm schedules. GCC 12's
// library has no std::chrono::tzdb, so the system's TZif files are read once, at config load.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fulcrum/core/clock.hpp"

namespace fulcrum::core {

// A local time broken down for matching: minutes since local midnight and day of week.
struct LocalTime {
  int minute_of_day = 0;  // 0..1439
  int weekday = 0;        // 0 = Sunday .. 6 = Saturday
  int day_of_month = 1;   // 1..31
  int month = 1;          // 1..12
  int year = 1970;
  std::int64_t local_day = 0;  // days since 1970-01-01 in local time
};

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(int year, int month, int day);

class TimeZone {
 public:
  TimeZone() = default;  // UTC
  // Loads an IANA zone ("Europe/Berlin", "UTC") from `root`; nullopt if unknown or malformed.
  static std::optional<TimeZone> load(const std::string& name,
                                      const std::string& root = "/usr/share/zoneinfo");

  const std::string& name() const { return name_; }
  // Seconds east of UTC in effect at `when`.
  std::int32_t offset_at(WallTime when) const;
  LocalTime local(WallTime when) const;

 private:
  std::string name_ = "UTC";
  std::vector<std::int64_t> transitions_;   // UTC seconds, ascending
  std::vector<std::int32_t> offset_after_;  // the offset from each transition on
  std::int32_t initial_offset_ = 0;         // before the first transition
};

}  // namespace fulcrum::core
