#pragma once
// The plan follows the traffic (issue #19): the ledger's last weeks folded into an
// hour-of-week profile, and what it recommends for a coming hour. For the provisioned units,
// the breakeven report's optimum computed on that hour-of-week's traffic alone (each past
// week's same hour one hour of a small report): what an autoscaler should run next hour. For
// serverless endpoints, whether the profile sends them traffic then: what to keep warm.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/metering/breakeven.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::metering {

class HourProfile {
 public:
  static constexpr std::int64_t kHourMs = 3'600'000;
  static constexpr std::size_t kHoursPerWeek = 168;
  static constexpr std::int64_t kWeekMs = kHourMs * kHoursPerWeek;

  // Learns from the `weeks` whole weeks before `now_ms` (since_ms() to now_ms). `config` must
  // outlive the profile.
  HourProfile(const config::Config& config, std::int64_t now_ms, unsigned weeks = 4);
  HourProfile(const HourProfile&) = delete;
  HourProfile& operator=(const HourProfile&) = delete;
  ~HourProfile();

  std::int64_t since_ms() const { return now_ms_ - weeks_ * kWeekMs; }
  void add(const UsageRecord& record);

  // For each deployed provisioned endpoint the report sizes: its optimum number of units for
  // the hour-of-week of `at_ms`, from that hour's traffic in each past week.
  std::map<std::string, unsigned> recommended_units(std::int64_t at_ms) const;
  // Whether `endpoint` served requests in the hour-of-week of `at_ms` in at least half of the
  // past weeks (at least one).
  bool expects_traffic(const std::string& endpoint, std::int64_t at_ms) const;

  static std::size_t hour_of_week(std::int64_t ms);

 private:
  const config::Config& config_;
  std::int64_t now_ms_;
  unsigned weeks_;
  // One small report per hour of the week, whose hours are that hour in each past week.
  std::vector<std::unique_ptr<TrafficBook>> books_;
  // By endpoint index and hour of the week: a bit per past week in which it served requests.
  std::vector<std::array<std::uint64_t, kHoursPerWeek>> served_weeks_;
};

// What the profile says for the gateway to act on, computed once an hour off the request path.
struct TrafficPlan {
  std::int64_t hour_start_ms = 0;                     // the coming hour it recommends units for
  std::map<std::string, unsigned> recommended_units;  // by provisioned endpoint
  // By serverless endpoint with automatic prewarm: the hours of the week the profile expects
  // traffic there.
  std::map<std::string, std::array<bool, HourProfile::kHoursPerWeek>> expected;
};

// The plan for the hour after `now_ms`: units from the profile, and the expected hours of
// every endpoint with automatic prewarm.
TrafficPlan make_plan(const config::Config& config, const HourProfile& profile,
                      std::int64_t now_ms);

// Whether an endpoint with automatic prewarm should be kept warm at `now_ms`: the profile
// expects traffic now, or a cold start from now (cold_start.p95) ahead.
bool auto_prewarm_due(const TrafficPlan& plan, const config::Endpoint& endpoint,
                      std::int64_t now_ms);

}  // namespace fulcrum::metering
