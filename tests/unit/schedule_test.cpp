// Time zones, daily windows and cron schedules, with injected times.
#include "fulcrum/core/schedule.hpp"

#include <gtest/gtest.h>

#include "fulcrum/core/time_zone.hpp"

namespace fulcrum::core {
namespace {

using namespace std::chrono_literals;

WallTime utc(int64_t unix_seconds) { return WallClock::from_time_t(unix_seconds); }
constexpr std::int64_t kWed20261125NoonUtc = 1795608000;
constexpr std::int64_t kMon20260706NoonUtc = 1783339200;  // summer

TEST(TimeZone, BerlinIsOneHourAheadInWinterAndTwoInSummer) {
  const auto berlin = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(berlin);
  EXPECT_EQ(berlin->offset_at(utc(kWed20261125NoonUtc)), 3600);
  EXPECT_EQ(berlin->offset_at(utc(kMon20260706NoonUtc)), 7200);
  const LocalTime local = berlin->local(utc(kWed20261125NoonUtc));
  EXPECT_EQ(local.minute_of_day, 13 * 60);
  EXPECT_EQ(local.weekday, 3);
  EXPECT_EQ(local.day_of_month, 25);
  EXPECT_EQ(local.month, 11);
}

TEST(TimeZone, UnknownAndUnsafeNamesAreRejected) {
  EXPECT_FALSE(TimeZone::load("Mars/Olympus_Mons"));
  EXPECT_FALSE(TimeZone::load("../../etc/passwd"));
  EXPECT_EQ(TimeZone::load("UTC")->offset_at(utc(kWed20261125NoonUtc)), 0);
}

TEST(DailyWindow, AWindowAcrossMidnightBelongsToTheDayItStarts) {
  DailyWindow night{22 * 60, 6 * 60, *parse_days("mon..fri")};
  const TimeZone utc_zone;
  const auto at = [&](std::int64_t offset) {
    return utc_zone.local(utc(kWed20261125NoonUtc + offset));
  };
  EXPECT_FALSE(night.contains(at(0)));                      // Wednesday 12:00
  EXPECT_TRUE(night.contains(at(10 * 3600)));               // Wednesday 22:00
  EXPECT_TRUE(night.contains(at(17 * 3600 + 59 * 60)));     // Thursday 05:59
  EXPECT_FALSE(night.contains(at(18 * 3600)));              // Thursday 06:00
  EXPECT_FALSE(night.contains(at(3 * 86400 + 11 * 3600)));  // Saturday 23:00
  EXPECT_TRUE(night.contains(at(2 * 86400 + 14 * 3600)));   // Saturday 02:00, Friday's night
}

TEST(Schedule, TimesOfDayAndDaysParse) {
  EXPECT_EQ(parse_time_of_day("07:45"), 465);
  EXPECT_EQ(parse_time_of_day("24:00"), 1440);
  EXPECT_FALSE(parse_time_of_day("7:45"));
  EXPECT_FALSE(parse_time_of_day("25:00"));
  EXPECT_EQ(parse_days("sat..sun"), 0b1000001);
  EXPECT_EQ(parse_days("mon-fri"), 0b0111110);
  EXPECT_FALSE(parse_days("someday"));
}

TEST(CronSchedule, FieldsListsRangesAndSteps) {
  const auto cron = CronSchedule::parse("45 7 * * 1-5");
  ASSERT_TRUE(cron);
  const TimeZone utc_zone;
  LocalTime local = utc_zone.local(utc(kWed20261125NoonUtc));
  local.minute_of_day = 7 * 60 + 45;
  EXPECT_TRUE(cron->matches(local));
  local.minute_of_day += 1;
  EXPECT_FALSE(cron->matches(local));
  local.minute_of_day -= 1;
  local.weekday = 0;
  EXPECT_FALSE(cron->matches(local));
  EXPECT_TRUE(CronSchedule::parse("*/15 0-23/2 1,15 * 7"));
  EXPECT_FALSE(CronSchedule::parse("60 * * * *"));
  EXPECT_FALSE(CronSchedule::parse("* * * *"));
  EXPECT_FALSE(CronSchedule::parse("*/0 * * * *"));
}

TEST(CronWindow, OpensAtEachFiringAndClosesAtUntil) {
  CronWindow window{*CronSchedule::parse("45 7 * * 1-5"), 19 * 60, Duration(0), TimeZone{}};
  const WallTime wednesday_midnight = utc(kWed20261125NoonUtc - 12 * 3600);
  EXPECT_FALSE(window.active(wednesday_midnight + 7h + 44min));
  EXPECT_TRUE(window.active(wednesday_midnight + 7h + 45min));
  EXPECT_TRUE(window.active(wednesday_midnight + 18h + 59min));
  EXPECT_FALSE(window.active(wednesday_midnight + 19h));
  EXPECT_FALSE(window.active(wednesday_midnight + 24h * 3 + 9h));  // Saturday

  CronWindow every_minute{*CronSchedule::parse("* * * * *"), std::nullopt, 2min, TimeZone{}};
  EXPECT_TRUE(every_minute.active(wednesday_midnight + 5h + 17min + 3s));
}

}  // namespace
}  // namespace fulcrum::core
