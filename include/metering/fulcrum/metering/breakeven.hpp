#pragma once
// The breakeven report: recorded traffic replayed against provisioned units. For each alias,
// each deployed provisioned endpoint and each what-if unit (reports.candidates), what the
// traffic cost, what it would cost all on serverless, and what with n units for n = 0..N,
// where each hour's traffic beyond the units' token capacity spills to serverless at the
// alias's cheapest serverless price. Capacity is the router's: output_tokens_per_second of
// weighted tokens (output + input × input_token_weight), here as an hourly volume.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::metering {

inline constexpr double kHoursPerMonth = 730;  // 365 × 24 / 12

struct UnitSpec {
  std::string name;
  bool deployed = false;  // a configured endpoint, or a what-if candidate
  double hourly_usd = 0;
  double output_tokens_per_second = 0;
  double input_token_weight = 0.25;
};

struct CurvePoint {
  unsigned units = 0;
  double usd = 0;  // over the period: provisioned + spilled
  double provisioned_usd = 0;
  double spilled_usd = 0;
  double utilization = 0;                           // served / capacity
  std::optional<double> effective_usd_per_million;  // provisioned cost over tokens it served
};

struct Analysis {
  std::string subject;               // the alias, or the unit
  std::vector<std::string> aliases;  // whose traffic it is
  std::optional<UnitSpec> unit;      // none: no provisioned unit can serve it
  std::uint64_t requests = 0;
  double input_tokens = 0;
  double output_tokens = 0;
  // As charged: an alias's serverless cost and provisioned shares; for a deployed unit, its
  // aliases' serverless cost and the unit's whole hourly cost over the period.
  double actual_usd = 0;
  std::optional<double> all_serverless_usd;  // none: the alias has no serverless target
  std::vector<CurvePoint> curve;             // n = 0..N, N one past what the peak hour needs
  std::optional<unsigned> optimum_units;
  // Tokens (input + output) per month: the volume at which one more unit pays for itself,
  // what the unit after the optimum would serve, and all of the traffic.
  std::optional<double> breakeven_tokens_per_month;
  std::optional<double> next_unit_tokens_per_month;
  double traffic_tokens_per_month = 0;
  // Mean weighted tokens in each hour of the day (UTC), against the unit's hourly capacity.
  std::array<double, 24> weighted_by_hour_of_day{};
};

struct Report {
  std::int64_t since_ms = 0;
  std::int64_t until_ms = 0;
  double hours = 0;
  std::uint64_t requests = 0;
  std::uint64_t unknown_alias_requests = 0;  // rows of aliases the config no longer has
  double actual_usd = 0;  // serverless cost + the deployed units' hourly cost over the period
  double all_serverless_usd = 0;
  double best_usd = 0;  // each deployed unit at its optimum, the rest serverless
  std::vector<Analysis> aliases;
  std::vector<Analysis> units;
  std::vector<Analysis> candidates;
};

// Accumulates ledger rows hour by hour, then analyses them against `config`.
class TrafficBook {
 public:
  TrafficBook(const config::Config& config, std::int64_t since_ms, std::int64_t until_ms);

  void add(const UsageRecord& record);
  Report analyse() const;

 private:
  struct Hour {
    double input = 0;
    double output = 0;
    double serverless_usd = 0;
    std::uint64_t requests = 0;
  };
  struct AliasTraffic {
    std::vector<Hour> hours;
    double actual_usd = 0;             // charged: serverless cost + provisioned shares
    double actual_serverless_usd = 0;  // the serverless part
    bool has_serverless = false;
  };

  Analysis analyse(const std::string& subject, const std::vector<std::size_t>& aliases,
                   const std::optional<UnitSpec>& unit) const;

  const config::Config& config_;
  std::int64_t since_ms_;
  std::int64_t until_ms_;
  std::vector<AliasTraffic> traffic_;  // by Config::models index
  std::uint64_t unknown_alias_requests_ = 0;
  double serverless_actual_usd_ = 0;
};

}  // namespace fulcrum::metering
