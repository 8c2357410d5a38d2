// The breakeven report as JSON: a stable shape for scripts (schema fulcrum.report/v1).
#include <nlohmann/json.hpp>

#include "fulcrum/report/render.hpp"

namespace fulcrum::report {
namespace {

using namespace metering;  // the report's types

using nlohmann::json;

json optional(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

json optional(const std::optional<unsigned>& value) { return value ? json(*value) : json(nullptr); }

json reconciliation_json(const std::optional<Reconciliation>& r) {
  if (!r) return nullptr;
  return {{"aliases_actual_usd", r->aliases_actual_usd},
          {"charged_outside_usd", r->charged_outside_usd},
          {"aliases_other_units_usd", r->aliases_other_units_usd}};
}

json attribution_json(const Attribution& a) {
  json idle = json::array();
  for (const auto& [endpoint, usd] : a.idle_endpoints) {
    idle.push_back({{"endpoint", endpoint}, {"usd", usd}});
  }
  return {{"aliases_usd", a.aliases_usd},
          {"unknown_aliases_usd", a.unknown_aliases_usd},
          {"idle_not_attributed_usd", a.idle_not_attributed_usd},
          {"idle_not_attributed", idle}};
}

json commitments_json(const std::vector<CommitmentView>& views, double hours) {
  json out = json::array();
  for (const CommitmentView& v : views) {
    json terms = json::array();
    for (const CommitmentTerm& t : v.terms) {
      terms.push_back({{"name", t.name},
                       {"hourly_usd", t.hourly_usd},
                       {"usd", t.usd},
                       {"saving_vs_on_demand_usd", t.saving_vs_on_demand_usd},
                       {"saving_vs_switched_off_usd", t.saving_vs_switched_off_usd},
                       {"breakeven_hours_per_day", optional(t.breakeven_hours_per_day)},
                       {"breakeven_fraction_of_hours", optional(t.breakeven_fraction_of_hours)},
                       {"optimum_units", optional(t.optimum_units)},
                       {"optimum_usd", optional(t.optimum_usd)}});
    }
    out.push_back({{"endpoint", v.endpoint},
                   {"on_demand",
                    {{"hourly_usd", v.on_demand_hourly_usd},
                     {"usd", v.on_demand_usd},
                     {"busy_hours", v.busy_hours},
                     {"busy_hours_per_day", hours > 0 ? 24 * v.busy_hours / hours : 0},
                     {"switched_off_usd", v.switched_off_usd},
                     {"optimum_units", optional(v.on_demand_optimum_units)},
                     {"optimum_usd", optional(v.on_demand_optimum_usd)}}},
                   {"terms", terms}});
  }
  return out;
}

json analysis_json(const Analysis& a, double hours) {
  const double per_month = hours > 0 ? kHoursPerMonth / hours : 0;
  json unit = nullptr;
  if (a.unit) {
    unit = {{"name", a.unit->name},
            {"deployed", a.unit->deployed},
            {"hourly_usd", a.unit->hourly_usd},
            {"output_tokens_per_second", a.unit->output_tokens_per_second},
            {"input_token_weight", a.unit->input_token_weight}};
  }
  json curve = json::array();
  for (const CurvePoint& p : a.curve) {
    curve.push_back({{"units", p.units},
                     {"usd", p.usd},
                     {"provisioned_usd", p.provisioned_usd},
                     {"spilled_usd", p.spilled_usd},
                     {"utilization", p.utilization},
                     {"effective_usd_per_million_tokens", optional(p.effective_usd_per_million)}});
  }
  json optimum = nullptr;
  if (a.optimum_units) {
    const CurvePoint& best = a.curve[*a.optimum_units];
    optimum = {{"units", best.units},
               {"usd", best.usd},
               {"monthly_usd", best.usd * per_month},
               {"utilization", best.utilization},
               {"effective_usd_per_million_tokens", optional(best.effective_usd_per_million)},
               {"monthly_saving_vs_serverless_usd",
                (a.all_serverless_usd.value_or(best.usd) - best.usd) * per_month},
               {"monthly_saving_vs_actual_usd", (a.actual_usd - best.usd) * per_month}};
  }
  json breakeven = {
      {"tokens_per_month", optional(a.breakeven_tokens_per_month)},
      {"next_unit_tokens_per_month", optional(a.next_unit_tokens_per_month)},
      {"traffic_tokens_per_month", a.traffic_tokens_per_month},
      {"next_unit_pays", a.breakeven_tokens_per_month && a.next_unit_tokens_per_month
                             ? json(*a.next_unit_tokens_per_month >= *a.breakeven_tokens_per_month)
                             : json(nullptr)}};
  return {{"subject", a.subject},
          {"aliases", a.aliases},
          {"unit", unit},
          {"requests", a.requests},
          {"input_tokens", a.input_tokens},
          {"output_tokens", a.output_tokens},
          {"actual_usd", a.actual_usd},
          {"actual_serverless_usd", a.actual_serverless_usd},
          {"actual_provisioned_usd", a.actual_provisioned_usd},
          {"reconciliation", reconciliation_json(a.reconciliation)},
          {"all_serverless_usd", optional(a.all_serverless_usd)},
          {"curve", curve},
          {"optimum", optimum},
          {"breakeven", breakeven},
          {"weighted_tokens_by_hour_of_day", a.weighted_by_hour_of_day}};
}

json analyses(const std::vector<Analysis>& list, double hours) {
  json out = json::array();
  for (const Analysis& a : list) out.push_back(analysis_json(a, hours));
  return out;
}

}  // namespace

std::string report_json(const Report& r) {
  const double per_month = r.hours > 0 ? kHoursPerMonth / r.hours : 0;
  const json out = {{"schema", "fulcrum.report/v1"},
                    {"period",
                     {{"since_ms", r.since_ms},
                      {"until_ms", r.until_ms},
                      {"hours", r.hours},
                      {"requests", r.requests},
                      {"unknown_alias_requests", r.unknown_alias_requests}}},
                    {"assumptions",
                     {{"hours_per_month", kHoursPerMonth},
                      {"capacity",
                       "each hour's weighted tokens up to units x output_tokens_per_second x 3600 "
                       "are served; the rest spills to the alias's cheapest serverless target"},
                      {"actual",
                       "serverless spend plus every provisioned endpoint's hourly_usd x the "
                       "period's hours; an alias is charged each endpoint's whole cost in "
                       "proportion to the amortized cost of its requests on it, and an endpoint "
                       "no request used is idle, not attributed"},
                      {"commitments",
                       "a term bills its hourly_usd every hour of the period; on demand is "
                       "billed every hour (usd) or only in hours a request started on the "
                       "endpoint (switched_off_usd); breakeven_hours_per_day = 24 x term "
                       "hourly_usd / on-demand hourly_usd"}}},
                    {"total",
                     {{"actual_usd", r.actual_usd},
                      {"all_serverless_usd", r.all_serverless_usd},
                      {"best_usd", r.best_usd},
                      {"actual_monthly_usd", r.actual_usd * per_month},
                      {"best_monthly_usd", r.best_usd * per_month},
                      {"monthly_saving_usd", (r.actual_usd - r.best_usd) * per_month}}},
                    {"aliases", analyses(r.aliases, r.hours)},
                    {"units", analyses(r.units, r.hours)},
                    {"candidates", analyses(r.candidates, r.hours)},
                    {"attribution", attribution_json(r.attribution)},
                    {"commitments", commitments_json(r.commitments, r.hours)}};
  return out.dump(2);
}

}  // namespace fulcrum::report
