#pragma once
// The breakeven report: recorded traffic replayed against provisioned units. For each alias,
// each deployed provisioned endpoint and each what-if unit (reports.candidates), what the
// traffic cost, what it would cost all on serverless, and what with n units for n = 0..N,
// where each hour's traffic beyond the units' token capacity spills to serverless at the
// alias's cheapest serverless price. Capacity is the router's: output_tokens_per_second of
// weighted tokens (output + input × input_token_weight), here as an hourly volume. Also where
// the actual cost went by alias (Attribution), and each provisioned endpoint's commitments
// against its on-demand price (CommitmentView).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
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

// How a deployed unit's view and its aliases' views relate (Analysis::reconciliation): the
// unit's actual counts its whole cost; each alias is charged its share of every unit it used.
//   unit actual - charged_outside_usd + aliases_other_units_usd = aliases_actual_usd
struct Reconciliation {
  double aliases_actual_usd = 0;  // the sum of its aliases' own views
  // Of the unit's whole cost: what aliases outside this view (or no longer configured) are
  // charged, and what no alias is (no traffic used the unit in the period).
  double charged_outside_usd = 0;
  double aliases_other_units_usd = 0;  // its aliases' shares of other provisioned units
};

struct Analysis {
  std::string subject;               // the alias, or the unit
  std::vector<std::string> aliases;  // whose traffic it is
  std::optional<UnitSpec> unit;      // none: no provisioned unit can serve it
  std::uint64_t requests = 0;
  double input_tokens = 0;
  double output_tokens = 0;
  // As charged, idle hours included: an alias's serverless cost and its share of each
  // provisioned endpoint's whole cost over the period (the endpoint's cost apportioned by the
  // amortized cost of the alias's requests on it); for a deployed unit, its aliases'
  // serverless cost and the unit's whole cost; for a what-if unit, its aliases' actual.
  double actual_usd = 0;  // actual_serverless_usd + actual_provisioned_usd
  double actual_serverless_usd = 0;
  double actual_provisioned_usd = 0;
  std::optional<Reconciliation> reconciliation;  // deployed units only
  std::optional<double> all_serverless_usd;      // none: the alias has no serverless target
  std::vector<CurvePoint> curve;                 // n = 0..N, N one past what the peak hour needs
  std::optional<unsigned> optimum_units;
  // Tokens (input + output) per month: the volume at which one more unit pays for itself,
  // what the unit after the optimum would serve, and all of the traffic.
  std::optional<double> breakeven_tokens_per_month;
  std::optional<double> next_unit_tokens_per_month;
  double traffic_tokens_per_month = 0;
  // Mean weighted tokens in each hour of the day (UTC), against the unit's hourly capacity.
  std::array<double, 24> weighted_by_hour_of_day{};
};

// Where the report's total actual went: aliases_usd + unknown_aliases_usd +
// idle_not_attributed_usd = Report::actual_usd.
struct Attribution {
  double aliases_usd = 0;          // the sum of the alias views' actual
  double unknown_aliases_usd = 0;  // serverless spend and unit shares of aliases since removed
  // Provisioned endpoints whose whole cost no request in the period used: nothing to
  // apportion it by.
  double idle_not_attributed_usd = 0;
  std::vector<std::pair<std::string, double>> idle_endpoints;  // endpoint, its cost
};

// One term of a provisioned endpoint's commitment view, over the report's period.
struct CommitmentTerm {
  std::string name;
  double hourly_usd = 0;
  double usd = 0;  // hourly_usd x every hour of the period: a term bills idle hours too
  double saving_vs_on_demand_usd = 0;     // CommitmentView::on_demand_usd - usd
  double saving_vs_switched_off_usd = 0;  // CommitmentView::switched_off_usd - usd
  // The hours a day on-demand must be on for this term to be cheaper: 24 x hourly_usd / the
  // on-demand hourly price (none when that is 0), and the same as a fraction of the day.
  std::optional<double> breakeven_hours_per_day;
  std::optional<double> breakeven_fraction_of_hours;
  // The breakeven curve of the endpoint's unit view priced at this term: its optimum units
  // and cost (provisioned + spilled). None when the endpoint is not sized.
  std::optional<unsigned> optimum_units;
  std::optional<double> optimum_usd;
};

// On demand against each commitment of one provisioned endpoint (endpoints.*.commitments).
struct CommitmentView {
  std::string endpoint;
  double on_demand_hourly_usd = 0;
  double on_demand_usd = 0;  // deployed every hour of the period, as the report's actual has it
  // Hours of the period in which at least one request started on it: what on-demand would
  // bill if it were switched off in every hour without traffic.
  double busy_hours = 0;
  double switched_off_usd = 0;                      // on_demand_hourly_usd x busy_hours
  std::optional<unsigned> on_demand_optimum_units;  // the unit view's optimum, on demand
  std::optional<double> on_demand_optimum_usd;
  std::vector<CommitmentTerm> terms;
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
  Attribution attribution;
  std::vector<CommitmentView> commitments;  // provisioned endpoints with commitments
};

// What the ledger says of one configured provisioned endpoint over the report's period.
struct UnitUse {
  // By alias slot: the Config::models index, then one slot for aliases no longer configured.
  std::vector<double> amortized_usd;
  std::vector<std::uint64_t> requests;
  std::vector<bool> busy;  // by hour of the period: a request started on it
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
    double actual_serverless_usd = 0;  // its provisioned shares are apportioned at the end
    bool has_serverless = false;
  };

  // `shares`: each alias's share of the provisioned endpoints' whole cost (apportion()).
  Analysis analyse(const std::string& subject, const std::vector<std::size_t>& aliases,
                   const std::optional<UnitSpec>& unit,
                   const std::vector<std::vector<double>>& shares) const;

  const config::Config& config_;
  std::int64_t since_ms_;
  std::int64_t until_ms_;
  std::vector<AliasTraffic> traffic_;  // by Config::models index
  std::vector<UnitUse> units_;         // by Config::endpoints index; serverless ones stay empty
  std::uint64_t unknown_alias_requests_ = 0;
  double serverless_actual_usd_ = 0;
  double unknown_serverless_usd_ = 0;  // the part of it of aliases no longer configured
};

}  // namespace fulcrum::metering
