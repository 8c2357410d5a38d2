#include "fulcrum/core/duration.hpp"

#include <charconv>
#include <cmath>

namespace fulcrum::core {

std::optional<Duration> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0 || digits == text.size()) return std::nullopt;
  double amount = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, amount);
  if (ec != std::errc{} || end != text.data() + digits || !std::isfinite(amount)) {
    return std::nullopt;
  }
  const std::string_view unit = text.substr(digits);
  double millis_per_unit = 0;
  if (unit == "ms") {
    millis_per_unit = 1;
  } else if (unit == "s") {
    millis_per_unit = 1000;
  } else if (unit == "m") {
    millis_per_unit = 60'000;
  } else if (unit == "h") {
    millis_per_unit = 3'600'000;
  } else {
    return std::nullopt;
  }
  const double millis = amount * millis_per_unit;
  if (millis > 1e12) return std::nullopt;  // ~31 years: surely a typo
  return Duration{static_cast<Duration::rep>(std::llround(millis))};
}

}  // namespace fulcrum::core
