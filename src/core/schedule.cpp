#include "fulcrum/core/schedule.hpp"

#include <array>
#include <charconv>
#include <vector>

namespace fulcrum::core {
namespace {

constexpr std::array<std::string_view, 7> kDayNames{"sun", "mon", "tue", "wed",
                                                    "thu", "fri", "sat"};

std::optional<int> parse_int(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<int> day_index(std::string_view name) {
  for (std::size_t i = 0; i < kDayNames.size(); ++i) {
    if (kDayNames[i] == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

// One cron field into `bits` (values lo..hi); false when malformed.
template <std::size_t N>
bool parse_field(std::string_view field, int lo, int hi, std::bitset<N>& bits, bool& any) {
  any = field == "*";
  for (std::string_view item : split(field, ',')) {
    int step = 1;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      const auto parsed = parse_int(item.substr(slash + 1));
      if (!parsed || *parsed <= 0) return false;
      step = *parsed;
      item = item.substr(0, slash);
    }
    int first = lo;
    int last = hi;
    if (item != "*") {
      const auto dash = item.find('-');
      const auto a = parse_int(item.substr(0, dash));
      if (!a) return false;
      first = *a;
      last = *a;
      if (dash != std::string_view::npos) {
        const auto b = parse_int(item.substr(dash + 1));
        if (!b) return false;
        last = *b;
      } else if (step != 1) {
        last = hi;  // "5/15" means from 5 on, every 15
      }
    }
    if (first < lo || last > hi || first > last) return false;
    for (int v = first; v <= last; v += step) bits.set(static_cast<std::size_t>(v));
  }
  return true;
}

}  // namespace

std::optional<int> parse_time_of_day(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  const auto hours = parse_int(text.substr(0, 2));
  const auto minutes = parse_int(text.substr(3, 2));
  if (!hours || !minutes || *minutes > 59 || *hours > 24) return std::nullopt;
  if (*hours == 24 && *minutes != 0) return std::nullopt;
  return *hours * 60 + *minutes;
}

std::optional<std::uint8_t> parse_days(std::string_view text) {
  std::string_view from = text;
  std::string_view to = text;
  if (const auto dots = text.find(".."); dots != std::string_view::npos) {
    from = text.substr(0, dots);
    to = text.substr(dots + 2);
  } else if (const auto dash = text.find('-'); dash != std::string_view::npos) {
    from = text.substr(0, dash);
    to = text.substr(dash + 1);
  }
  const auto first = day_index(from);
  const auto last = day_index(to);
  if (!first || !last) return std::nullopt;
  std::uint8_t days = 0;
  for (int d = *first;; d = (d + 1) % 7) {
    days |= static_cast<std::uint8_t>(1u << d);
    if (d == *last) break;
  }
  return days;
}

bool DailyWindow::contains(const LocalTime& local) const {
  const auto on = [this](int weekday) { return (days >> weekday) & 1u; };
  const int m = local.minute_of_day;
  if (start_minute <= end_minute) return m >= start_minute && m < end_minute && on(local.weekday);
  // Crosses midnight: the evening part belongs to today, the morning part to yesterday.
  if (m >= start_minute) return on(local.weekday);
  return m < end_minute && on((local.weekday + 6) % 7);
}

std::optional<CronSchedule> CronSchedule::parse(std::string_view text) {
  std::vector<std::string_view> fields;
  for (std::string_view part : split(text, ' ')) {
    if (!part.empty()) fields.push_back(part);
  }
  if (fields.size() != 5) return std::nullopt;
  CronSchedule cron;
  cron.text_ = std::string(text);
  bool any_minute = false;
  bool any_hour = false;
  bool any_month = false;
  std::bitset<8> weekdays;
  if (!parse_field(fields[0], 0, 59, cron.minutes_, any_minute) ||
      !parse_field(fields[1], 0, 23, cron.hours_, any_hour) ||
      !parse_field(fields[2], 1, 31, cron.days_of_month_, cron.any_day_of_month_) ||
      !parse_field(fields[3], 1, 12, cron.months_, any_month) ||
      !parse_field(fields[4], 0, 7, weekdays, cron.any_weekday_)) {
    return std::nullopt;
  }
  for (std::size_t d = 0; d < 7; ++d) cron.weekdays_[d] = weekdays[d];
  if (weekdays[7]) cron.weekdays_.set(0);
  return cron;
}

bool CronSchedule::matches(const LocalTime& local) const {
  if (!minutes_[static_cast<std::size_t>(local.minute_of_day % 60)] ||
      !hours_[static_cast<std::size_t>(local.minute_of_day / 60)] ||
      !months_[static_cast<std::size_t>(local.month)]) {
    return false;
  }
  const bool dom = days_of_month_[static_cast<std::size_t>(local.day_of_month)];
  const bool dow = weekdays_[static_cast<std::size_t>(local.weekday)];
  if (any_day_of_month_) return dow;
  if (any_weekday_) return dom;
  return dom || dow;
}

bool CronWindow::active(WallTime now) const {
  // Only the latest firing matters: an earlier one never closes later.
  const auto minute = std::chrono::floor<std::chrono::minutes>(now);
  const auto lookback = until_minute ? std::chrono::minutes(24 * 60)
                                     : std::chrono::ceil<std::chrono::minutes>(length);
  for (auto back = std::chrono::minutes(0); back <= lookback; ++back) {
    const WallTime fired = minute - back;
    const LocalTime local = zone.local(fired);
    if (!start.matches(local)) continue;
    if (!until_minute) return now < fired + length;
    int left = *until_minute - local.minute_of_day;
    if (left <= 0) left += 24 * 60;  // the next `until` after the firing
    return now < fired + std::chrono::minutes(left);
  }
  return false;
}

}  // namespace fulcrum::core
