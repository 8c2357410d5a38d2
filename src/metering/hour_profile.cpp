#include "fulcrum/metering/hour_profile.hpp"

#include <algorithm>
#include <bit>

namespace fulcrum::metering {

HourProfile::HourProfile(const config::Config& config, std::int64_t now_ms, unsigned weeks)
    : config_(config),
      now_ms_(now_ms),
      weeks_(std::clamp(weeks, 1u, 64u)),  // a bit per week in served_weeks_
      served_weeks_(config.endpoints.size()) {
  books_.reserve(kHoursPerWeek);
  for (std::size_t h = 0; h < kHoursPerWeek; ++h) {
    books_.push_back(std::make_unique<TrafficBook>(config_, 0, weeks_ * kHourMs));
  }
  for (auto& hours : served_weeks_) hours.fill(0);
}

HourProfile::~HourProfile() = default;

std::size_t HourProfile::hour_of_week(std::int64_t ms) {
  const std::int64_t hour = ms / kHourMs;
  return static_cast<std::size_t>(((hour % 168) + 168) % 168);
}

void HourProfile::add(const UsageRecord& record) {
  if (record.started_ms < since_ms() || record.started_ms >= now_ms_) return;
  const auto week = static_cast<std::size_t>((now_ms_ - 1 - record.started_ms) / kWeekMs);
  const std::size_t how = hour_of_week(record.started_ms);
  // In the hour-of-week's own report, week w (0 = the last) is hour weeks - 1 - w.
  UsageRecord moved = record;
  moved.started_ms = static_cast<std::int64_t>(weeks_ - 1 - week) * kHourMs +
                     ((record.started_ms % kHourMs) + kHourMs) % kHourMs;
  books_[how]->add(moved);
  for (std::size_t e = 0; e < config_.endpoints.size(); ++e) {
    if (config_.endpoints[e].name == record.endpoint) {
      served_weeks_[e][how] |= std::uint64_t{1} << week;
      break;
    }
  }
}

std::map<std::string, unsigned> HourProfile::recommended_units(std::int64_t at_ms) const {
  std::map<std::string, unsigned> out;
  // A sized unit without traffic in that hour is in no analysis: none of it is needed.
  for (const config::Endpoint& endpoint : config_.endpoints) {
    if (endpoint.kind == config::EndpointKind::provisioned &&
        endpoint.capacity.output_tokens_per_second > 0) {
      out[endpoint.name] = 0;
    }
  }
  const Report report = books_[hour_of_week(at_ms)]->analyse();
  for (const Analysis& unit : report.units) {
    if (unit.unit && unit.unit->deployed && unit.optimum_units) {
      out[unit.subject] = *unit.optimum_units;
    }
  }
  return out;
}

bool HourProfile::expects_traffic(const std::string& endpoint, std::int64_t at_ms) const {
  for (std::size_t e = 0; e < config_.endpoints.size(); ++e) {
    if (config_.endpoints[e].name != endpoint) continue;
    const int weeks_with_traffic = std::popcount(served_weeks_[e][hour_of_week(at_ms)]);
    return weeks_with_traffic > 0 && 2 * static_cast<unsigned>(weeks_with_traffic) >= weeks_;
  }
  return false;
}

TrafficPlan make_plan(const config::Config& config, const HourProfile& profile,
                      std::int64_t now_ms) {
  TrafficPlan plan;
  plan.hour_start_ms = (now_ms / HourProfile::kHourMs + 1) * HourProfile::kHourMs;
  plan.recommended_units = profile.recommended_units(plan.hour_start_ms);
  for (const config::Endpoint& endpoint : config.endpoints) {
    const bool automatic = std::any_of(endpoint.prewarm.begin(), endpoint.prewarm.end(),
                                       [](const config::Prewarm& p) { return p.automatic; });
    if (!automatic) continue;
    auto& hours = plan.expected[endpoint.name];
    for (std::size_t h = 0; h < HourProfile::kHoursPerWeek; ++h) {
      // Any instant of hour-of-week h, a week after the profile's.
      const auto at = static_cast<std::int64_t>(h) * HourProfile::kHourMs +
                      (now_ms / HourProfile::kWeekMs) * HourProfile::kWeekMs;
      hours[HourProfile::hour_of_week(at)] = profile.expects_traffic(endpoint.name, at);
    }
  }
  return plan;
}

bool auto_prewarm_due(const TrafficPlan& plan, const config::Endpoint& endpoint,
                      std::int64_t now_ms) {
  const auto hours = plan.expected.find(endpoint.name);
  if (hours == plan.expected.end() || !endpoint.cold_start) return false;
  const auto ahead =
      std::chrono::duration_cast<std::chrono::milliseconds>(endpoint.cold_start->p95);
  return hours->second[HourProfile::hour_of_week(now_ms)] ||
         hours->second[HourProfile::hour_of_week(now_ms + ahead.count())];
}

}  // namespace fulcrum::metering
