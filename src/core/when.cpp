#include "fulcrum/core/when.hpp"

#include <chrono>
#include <ctime>

#include "fulcrum/core/duration.hpp"

namespace fulcrum::core {

std::optional<std::int64_t> parse_when(const std::string& text) {
  const auto now = WallClock::now();
  // Days are the natural unit of a report's window; core::parse_duration stops at hours.
  if (text.size() > 1 && text.back() == 'd' &&
      text.find_first_not_of("0123456789") == text.size() - 1) {
    const auto days = std::chrono::hours(24) * std::stoll(text.substr(0, text.size() - 1));
    return std::chrono::duration_cast<std::chrono::milliseconds>((now - days).time_since_epoch())
        .count();
  }
  if (const auto ago = parse_duration(text)) {
    return std::chrono::duration_cast<std::chrono::milliseconds>((now - *ago).time_since_epoch())
        .count();
  }
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') {
    tm = {};
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
    if (end == nullptr || *end != '\0') return std::nullopt;
  }
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

}  // namespace fulcrum::core
