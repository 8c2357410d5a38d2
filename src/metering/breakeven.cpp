#include "fulcrum/metering/breakeven.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "breakeven_parts.hpp"
#include "fulcrum/metering/cost.hpp"

namespace fulcrum::metering {
namespace {

constexpr std::int64_t kMillisPerHour = 3'600'000;
constexpr unsigned kMaxUnits = 1000;

// The provisioned endpoint that would serve an alias: its first provisioned target whose
// token throughput is stated (the unit the report can size).
std::optional<UnitSpec> deployed_unit(const config::Config& config,
                                      const config::ModelAlias& alias) {
  for (const config::Target& target : alias.targets) {
    const config::Endpoint& e = config.endpoints[target.endpoint];
    if (e.kind != config::EndpointKind::provisioned || e.capacity.output_tokens_per_second <= 0) {
      continue;
    }
    return UnitSpec{e.name, true, e.hourly_usd, e.capacity.output_tokens_per_second,
                    e.capacity.input_token_weight};
  }
  return std::nullopt;
}

}  // namespace

TrafficBook::TrafficBook(const config::Config& config, std::int64_t since_ms, std::int64_t until_ms)
    : config_(config), since_ms_(since_ms), until_ms_(std::max(until_ms, since_ms)) {
  const auto hours =
      static_cast<std::size_t>((until_ms_ - since_ms_ + kMillisPerHour - 1) / kMillisPerHour);
  traffic_.resize(config.models.size());
  units_.resize(config.endpoints.size());
  for (std::size_t e = 0; e < config.endpoints.size(); ++e) {
    if (config.endpoints[e].kind != config::EndpointKind::provisioned) continue;
    units_[e].amortized_usd.resize(config.models.size() + 1);
    units_[e].requests.resize(config.models.size() + 1);
    units_[e].busy.resize(hours);
  }
  for (std::size_t i = 0; i < config.models.size(); ++i) {
    traffic_[i].hours.resize(hours);
    for (const config::Target& target : config.models[i].targets) {
      traffic_[i].has_serverless |=
          config.endpoints[target.endpoint].kind == config::EndpointKind::serverless;
    }
  }
}

void TrafficBook::add(const UsageRecord& record) {
  if (record.started_ms < since_ms_ || record.started_ms >= until_ms_) return;
  const auto hour_index =
      static_cast<std::size_t>((record.started_ms - since_ms_) / kMillisPerHour);
  const config::ModelAlias* alias = config_.find_alias(record.alias);
  // The alias's slot, or the last one for aliases the config no longer has.
  const auto slot = alias != nullptr ? static_cast<std::size_t>(alias - config_.models.data())
                                     : config_.models.size();
  if (record.endpoint_kind == "serverless") {
    serverless_actual_usd_ += record.cost.usd();
    if (alias == nullptr) unknown_serverless_usd_ += record.cost.usd();
  } else if (const auto e = config_.find_endpoint(record.endpoint);
             e && config_.endpoints[*e].kind == config::EndpointKind::provisioned) {
    // A unit no longer configured is in neither the total nor any share.
    UnitUse& use = units_[*e];
    use.amortized_usd[slot] += record.amortized.usd();
    ++use.requests[slot];
    use.busy[hour_index] = true;
  }
  if (alias == nullptr) {
    ++unknown_alias_requests_;
    return;
  }
  AliasTraffic& traffic = traffic_[slot];
  Hour& hour = traffic.hours[hour_index];
  const core::Usage usage{.input = record.input_tokens,
                          .cached_input = record.cached_tokens,
                          .cache_write = record.cache_write_tokens,
                          .output = record.output_tokens};
  // Each request at the cheapest serverless target of its alias.
  double cheapest = std::numeric_limits<double>::infinity();
  for (const config::Target& target : alias->targets) {
    if (config_.endpoints[target.endpoint].kind != config::EndpointKind::serverless) continue;
    cheapest = std::min(cheapest, marginal_cost(target.price, usage).usd());
  }
  if (std::isfinite(cheapest)) hour.serverless_usd += cheapest;
  hour.input += static_cast<double>(record.input_tokens);
  hour.output += static_cast<double>(record.output_tokens);
  ++hour.requests;
  if (record.endpoint_kind == "serverless") traffic.actual_serverless_usd += record.cost.usd();
}

Analysis TrafficBook::analyse(const std::string& subject, const std::vector<std::size_t>& aliases,
                              const std::optional<UnitSpec>& unit,
                              const std::vector<std::vector<double>>& shares) const {
  Analysis a;
  a.subject = subject;
  a.unit = unit;
  const double weight = unit ? unit->input_token_weight : 0.25;
  const std::size_t hour_count = traffic_.empty() ? 0 : traffic_[0].hours.size();
  std::vector<double> weighted(hour_count), raw(hour_count), serverless(hour_count);
  bool serverless_everywhere = true;
  const double hours = static_cast<double>(until_ms_ - since_ms_) / kMillisPerHour;
  const bool whole_unit = unit && unit->deployed && aliases.size() > 0 && subject == unit->name;
  const std::optional<std::size_t> own =
      whole_unit ? config_.find_endpoint(unit->name) : std::nullopt;
  if (whole_unit) {
    a.actual_provisioned_usd = unit->hourly_usd * hours;
    a.reconciliation = Reconciliation{.charged_outside_usd = a.actual_provisioned_usd};
  }
  for (std::size_t i : aliases) {
    const AliasTraffic& t = traffic_[i];
    a.aliases.push_back(config_.models[i].name);
    a.actual_serverless_usd += t.actual_serverless_usd;
    double alias_shares = 0;
    for (std::size_t e = 0; e < shares.size(); ++e) {
      if (shares[e].empty()) continue;
      alias_shares += shares[e][i];
      if (!a.reconciliation) continue;
      if (e == own) {
        a.reconciliation->charged_outside_usd -= shares[e][i];
      } else {
        a.reconciliation->aliases_other_units_usd += shares[e][i];
      }
    }
    if (a.reconciliation) {
      a.reconciliation->aliases_actual_usd += t.actual_serverless_usd + alias_shares;
    } else {
      a.actual_provisioned_usd += alias_shares;
    }
    serverless_everywhere &= t.has_serverless;
    for (std::size_t h = 0; h < hour_count; ++h) {
      const Hour& hour = t.hours[h];
      weighted[h] += hour.output + weight * hour.input;
      raw[h] += hour.input + hour.output;
      serverless[h] += hour.serverless_usd;
      a.requests += hour.requests;
      a.input_tokens += hour.input;
      a.output_tokens += hour.output;
    }
  }
  a.actual_usd = a.actual_serverless_usd + a.actual_provisioned_usd;
  const double per_month = hours > 0 ? kHoursPerMonth / hours : 0;
  double total_weighted = 0, total_raw = 0, total_serverless = 0, peak = 0;
  std::array<double, 24> days_per_hour{};
  for (std::size_t h = 0; h < hour_count; ++h) {
    total_weighted += weighted[h];
    total_raw += raw[h];
    total_serverless += serverless[h];
    peak = std::max(peak, weighted[h]);
    const auto hour_of_day = static_cast<std::size_t>(
        ((since_ms_ / kMillisPerHour) + static_cast<std::int64_t>(h)) % 24);
    a.weighted_by_hour_of_day[hour_of_day] += weighted[h];
    days_per_hour[hour_of_day] += 1;
  }
  for (std::size_t h = 0; h < 24; ++h) {
    if (days_per_hour[h] > 0) a.weighted_by_hour_of_day[h] /= days_per_hour[h];
  }
  a.traffic_tokens_per_month = total_raw * per_month;
  if (serverless_everywhere) a.all_serverless_usd = total_serverless;
  if (!unit || !serverless_everywhere || total_weighted <= 0) return a;

  // Capacity of one unit in weighted tokens per hour; N is one past what the peak needs.
  const double per_unit = unit->output_tokens_per_second * 3600;
  const auto needed = static_cast<unsigned>(std::ceil(peak / per_unit));
  const unsigned last = std::min(kMaxUnits, needed + 1);
  const auto served_by = [&](double capacity, std::size_t h) {
    return std::min(weighted[h], capacity);
  };
  for (unsigned n = 0; n <= last; ++n) {
    CurvePoint p;
    p.units = n;
    p.provisioned_usd = n * unit->hourly_usd * hours;
    double served = 0, served_raw = 0;
    for (std::size_t h = 0; h < hour_count; ++h) {
      if (weighted[h] <= 0) continue;
      const double s = served_by(n * per_unit, h);
      served += s;
      served_raw += raw[h] * s / weighted[h];
      p.spilled_usd += serverless[h] * (weighted[h] - s) / weighted[h];
    }
    p.usd = p.provisioned_usd + p.spilled_usd;
    p.utilization = n > 0 && hours > 0 ? served / (n * per_unit * hours) : 0;
    if (n > 0 && served_raw > 0) p.effective_usd_per_million = p.provisioned_usd / served_raw * 1e6;
    if (!a.optimum_units || p.usd < a.curve[*a.optimum_units].usd - 1e-9) a.optimum_units = n;
    a.curve.push_back(p);
  }
  // One more unit pays for itself when the serverless spend it displaces covers its month.
  const double usd_per_weighted = total_serverless / total_weighted;
  const double raw_per_weighted = total_raw / total_weighted;
  if (usd_per_weighted > 0) {
    a.breakeven_tokens_per_month =
        unit->hourly_usd * kHoursPerMonth / usd_per_weighted * raw_per_weighted;
  }
  double next = 0;
  const double below = *a.optimum_units * per_unit;
  for (std::size_t h = 0; h < hour_count; ++h) {
    next += std::clamp(weighted[h] - below, 0.0, per_unit);
  }
  a.next_unit_tokens_per_month = next * per_month * raw_per_weighted;
  return a;
}

Report TrafficBook::analyse() const {
  Report r;
  r.since_ms = since_ms_;
  r.until_ms = until_ms_;
  r.hours = static_cast<double>(until_ms_ - since_ms_) / kMillisPerHour;
  r.unknown_alias_requests = unknown_alias_requests_;
  r.actual_usd = serverless_actual_usd_;
  for (const config::Endpoint& e : config_.endpoints) {
    if (e.kind == config::EndpointKind::provisioned) r.actual_usd += e.hourly_usd * r.hours;
  }
  const std::vector<std::vector<double>> shares =
      apportion(config_, units_, r.hours, r.attribution);
  r.attribution.unknown_aliases_usd += unknown_serverless_usd_;
  std::map<std::string, std::vector<std::size_t>> by_unit;
  std::map<std::string, UnitSpec> units;
  std::vector<std::size_t> with_traffic;
  for (std::size_t i = 0; i < config_.models.size(); ++i) {
    const config::ModelAlias& alias = config_.models[i];
    std::uint64_t requests = 0;
    for (const Hour& h : traffic_[i].hours) requests += h.requests;
    if (requests == 0) continue;
    r.requests += requests;
    with_traffic.push_back(i);
    const std::optional<UnitSpec> unit = deployed_unit(config_, alias);
    Analysis a = analyse(alias.name, {i}, unit, shares);
    r.attribution.aliases_usd += a.actual_usd;
    r.all_serverless_usd += a.all_serverless_usd.value_or(a.actual_usd);
    if (unit && a.optimum_units) {
      by_unit[unit->name].push_back(i);
      units[unit->name] = *unit;
    } else {
      r.best_usd += a.all_serverless_usd.value_or(a.actual_usd);
    }
    r.aliases.push_back(std::move(a));
  }
  for (const auto& [name, aliases] : by_unit) {
    Analysis a = analyse(name, aliases, units.at(name), shares);
    r.best_usd += a.curve[*a.optimum_units].usd;
    r.units.push_back(std::move(a));
  }
  for (const config::WhatIfUnit& candidate : config_.what_if) {
    std::vector<std::size_t> aliases;
    for (std::size_t i : with_traffic) {
      const bool named = candidate.aliases.empty() ||
                         std::find(candidate.aliases.begin(), candidate.aliases.end(), i) !=
                             candidate.aliases.end();
      if (named && traffic_[i].has_serverless) aliases.push_back(i);
    }
    if (aliases.empty()) continue;
    r.candidates.push_back(
        analyse(candidate.name, aliases,
                UnitSpec{candidate.name, false, candidate.hourly_usd,
                         candidate.output_tokens_per_second, candidate.input_token_weight},
                shares));
  }
  for (std::size_t e = 0; e < config_.endpoints.size(); ++e) {
    const config::Endpoint& endpoint = config_.endpoints[e];
    if (endpoint.kind != config::EndpointKind::provisioned || endpoint.commitments.empty()) {
      continue;
    }
    const auto sized = std::find_if(r.units.begin(), r.units.end(), [&](const Analysis& a) {
      return a.subject == endpoint.name && !a.curve.empty();
    });
    r.commitments.push_back(
        commitment_view(endpoint, units_[e], r.hours, sized == r.units.end() ? nullptr : &*sized));
  }
  return r;
}

}  // namespace fulcrum::metering
