#include "fulcrum/core/money.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace fulcrum::core {
namespace {
__extension__ typedef __int128 Int128;  // -Wpedantic: GCC extension, on purpose
}  // namespace

Money Money::from_usd(double usd) { return Money{std::llround(usd * 1e9)}; }

std::string Money::to_decimal() const {
  const bool negative = nano_usd < 0;
  const std::uint64_t magnitude =
      negative ? 0 - static_cast<std::uint64_t>(nano_usd) : static_cast<std::uint64_t>(nano_usd);
  std::string fraction = std::to_string(magnitude % 1'000'000'000ULL);
  fraction.insert(0, 9 - fraction.size(), '0');
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  std::string out = negative ? "-" : "";
  out += std::to_string(magnitude / 1'000'000'000ULL);
  if (!fraction.empty()) out += "." + fraction;
  return out;
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
  return Money{static_cast<std::int64_t>(nano)};
}

}  // namespace fulcrum::core
