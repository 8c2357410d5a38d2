#pragma once
// Money is an integer until it is shown.
#include <climits>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fulcrum::core {

// Decimal text of an amount, held inline: it is written into every response head and
// access line, where a heap string per amount showed in profiles.
class DecimalText {
 public:
  std::string_view view() const { return {data_, size_}; }

 private:
  friend struct Money;
  char data_[24];  // "-9223372036.854775808" is 21 characters
  std::size_t size_ = 0;
};

// An amount of US dollars in nano-dollars. int64 holds ±9.2 billion USD, and a price of
// 0.001 USD per 1M tokens still costs a whole number of nano-dollars per thousand tokens.
struct Money {
  std::int64_t nano_usd = 0;

  static Money from_usd(double usd);
  double usd() const { return static_cast<double>(nano_usd) / 1e9; }
  // Fixed-point decimal with nine places trimmed of trailing zeros: "0.00042", "0".
  std::string to_decimal() const { return std::string(decimal().view()); }
  DecimalText decimal() const;

  // Sums saturate at the int64 bounds instead of overflowing: an absurd price times an
  // absurd token count is refused by a budget, never wrapped into a negative amount.
  Money& operator+=(Money other) {
    if (__builtin_add_overflow(nano_usd, other.nano_usd, &nano_usd)) {
      nano_usd = other.nano_usd > 0 ? INT64_MAX : INT64_MIN;
    }
    return *this;
  }
  friend Money operator+(Money a, Money b) { return a += b; }
  friend auto operator<=>(Money, Money) = default;
};

// A token price in USD per one million tokens, held as micro-dollars per million tokens
// (equivalently pico-dollars per token), so YAML prices like 0.075 are exact.
struct PricePerMillion {
  std::int64_t micro_usd = 0;

  static std::optional<PricePerMillion> from_usd(double usd_per_million);
  double usd() const { return static_cast<double>(micro_usd) / 1e6; }
  // tokens × price, rounded to the nearest nano-dollar.
  Money cost_of(std::int64_t tokens) const;
  friend auto operator<=>(PricePerMillion, PricePerMillion) = default;
};

}  // namespace fulcrum::core
