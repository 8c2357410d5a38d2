#include "fulcrum/core/money.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace fulcrum::core {
namespace {
__extension__ typedef __int128 Int128;  // -Wpedantic: GCC extension, on purpose
}  // namespace

Money Money::from_usd(double usd) {
  // Beyond ±9.2 billion USD (or NaN) llround is undefined: saturate instead.
  const double nano = usd * 1e9;
  if (!(nano < 9.2e18)) return Money{nano > 0 ? INT64_MAX : 0};
  if (!(nano > -9.2e18)) return Money{INT64_MIN};
  return Money{std::llround(nano)};
}

DecimalText Money::decimal() const {
  const bool negative = nano_usd < 0;
  const std::uint64_t magnitude =
      negative ? 0 - static_cast<std::uint64_t>(nano_usd) : static_cast<std::uint64_t>(nano_usd);
  // Digits right to left: the fraction's nine places (trailing zeros dropped), then the whole
  // dollars, then the sign.
  char reversed[24];
  std::size_t n = 0;
  std::uint64_t fraction = magnitude % 1'000'000'000ULL;
  int places = 9;
  while (places > 0 && fraction % 10 == 0 && fraction != 0) {
    fraction /= 10;
    --places;
  }
  if (fraction != 0) {
    for (int i = 0; i < places; ++i, fraction /= 10)
      reversed[n++] = static_cast<char>('0' + fraction % 10);
    reversed[n++] = '.';
  }
  std::uint64_t whole = magnitude / 1'000'000'000ULL;
  do {
    reversed[n++] = static_cast<char>('0' + whole % 10);
    whole /= 10;
  } while (whole != 0);
  if (negative) reversed[n++] = '-';
  DecimalText text;
  for (std::size_t i = 0; i < n; ++i) text.data_[i] = reversed[n - 1 - i];
  text.size_ = n;
  return text;
}

std::optional<PricePerMillion> PricePerMillion::from_usd(double usd_per_million) {
  if (!std::isfinite(usd_per_million) || usd_per_million < 0 || usd_per_million > 1e9) {
    return std::nullopt;
  }
  return PricePerMillion{std::llround(usd_per_million * 1e6)};
}

Money PricePerMillion::cost_of(std::int64_t tokens) const {
  // micro_usd per 1e6 tokens = (micro_usd / 1000) nano-dollars per token. Multiply first
  // with 128-bit headroom, then divide once, so rounding happens a single time.
  std::int64_t small = 0;
  if (!__builtin_mul_overflow(tokens, micro_usd, &small) && small < INT64_MAX - 500 &&
      small > INT64_MIN + 500) {
    // The common case fits 64 bits; 128-bit division is a slow library call.
    return Money{(small + (small >= 0 ? 500 : -500)) / 1000};
  }
  const Int128 pico = static_cast<Int128>(tokens) * micro_usd;
  const Int128 nano = (pico + (pico >= 0 ? 500 : -500)) / 1000;
  if (nano > INT64_MAX) return Money{INT64_MAX};  // saturates, as Money's sums do
  if (nano < INT64_MIN) return Money{INT64_MIN};
  return Money{static_cast<std::int64_t>(nano)};
}

}  // namespace fulcrum::core
