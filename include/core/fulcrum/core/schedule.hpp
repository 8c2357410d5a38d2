#pragma once
// Recurring local-time windows: daily ranges ("22:00-06:00" on weekdays) for off-peak routes,
// and cron expressions for prewarm schedules. Pure functions of a LocalTime.
#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/time_zone.hpp"

namespace fulcrum::core {

// "HH:MM" → minutes since midnight; "24:00" is accepted as the end of the day.
std::optional<int> parse_time_of_day(std::string_view text);
// "mon", "mon..fri" or "mon-fri" (ranges may wrap, "fri..mon") → bits by weekday, Sunday = 0.
std::optional<std::uint8_t> parse_days(std::string_view text);

// A daily window; when it crosses midnight, `days` names the day it starts on.
struct DailyWindow {
  int start_minute = 0;
  int end_minute = 0;        // exclusive; below start_minute means "the next day"
  std::uint8_t days = 0x7f;  // every day

  bool contains(const LocalTime& local) const;
};

// Five-field cron (minute hour day-of-month month day-of-week) with *, lists, ranges and
// steps; weekday 7 is Sunday too. As in Vixie cron, when both day fields are restricted, a
// day matches if either does.
class CronSchedule {
 public:
  static std::optional<CronSchedule> parse(std::string_view text);
  bool matches(const LocalTime& local) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;
  std::bitset<13> months_;
  std::bitset<7> weekdays_;
  bool any_day_of_month_ = true;
  bool any_weekday_ = true;
};

// A window opened by each firing of a cron schedule and closed at a time of day (`until`)
// or after a fixed length (`length`), evaluated in a zone.
struct CronWindow {
  CronSchedule start;
  std::optional<int> until_minute;  // minutes since local midnight
  Duration length{0};               // used when until_minute is absent
  TimeZone zone;

  bool active(WallTime now) const;
};

}  // namespace fulcrum::core
