// The report as one HTML file: inline CSS and SVG only, so it opens anywhere, offline.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

#include "fulcrum/report/render.hpp"
#include "html.hpp"

namespace fulcrum::report {
namespace {

void write_analysis(std::ostringstream& out, const metering::Analysis& a, double hours) {
  const double per_month = hours > 0 ? metering::kHoursPerMonth / hours : 0;
  out << "<section><h3>" << escape(a.subject) << "</h3><p>" << a.requests << " requests, "
      << tokens(a.input_tokens) << " input + " << tokens(a.output_tokens)
      << " output tokens. Actual " << usd(a.actual_usd) << " (serverless "
      << usd(a.actual_serverless_usd) << " + provisioned " << usd(a.actual_provisioned_usd) << ")";
  if (a.all_serverless_usd) out << ", all serverless " << usd(*a.all_serverless_usd);
  out << ".</p>";
  if (std::string why = reconciliation(a); !why.empty()) {
    why[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(why[0])));
    out << "<p class=\"reconciliation\">" << escape(why) << ".</p>";
  }
  if (!a.unit || a.curve.empty()) {
    out << "<p>Not sized: " << (a.unit ? "no serverless target to spill to" : "no provisioned unit")
        << ".</p></section>";
    return;
  }
  const metering::CurvePoint& best = a.curve[*a.optimum_units];
  out << "<p>Unit <b>" << escape(a.unit->name) << "</b>" << (a.unit->deployed ? "" : " (what-if)")
      << ": " << usd(a.unit->hourly_usd) << "/h, " << a.unit->output_tokens_per_second
      << " tokens/s. Optimum <b>" << best.units << "</b> units: " << usd(best.usd * per_month)
      << "/month, utilization " << number(best.utilization * 100) << "%";
  if (a.breakeven_tokens_per_month && a.next_unit_tokens_per_month) {
    out << "; a unit pays for itself at " << tokens(*a.breakeven_tokens_per_month)
        << " tokens/month, the next would serve " << tokens(*a.next_unit_tokens_per_month);
  }
  out << ".</p><div class=\"charts\">";
  BarChart cost{
      "Cost for the period by number of units", "cost-chart", {}, {}, {}, a.optimum_units, {}};
  for (const metering::CurvePoint& p : a.curve) {
    cost.labels.push_back(std::to_string(p.units));
    cost.values.push_back(p.usd);
    cost.tooltips.push_back(std::to_string(p.units) + " units: " + usd(p.usd) + " (" +
                            usd(p.provisioned_usd) + " provisioned + " + usd(p.spilled_usd) +
                            " spilled)");
  }
  if (a.all_serverless_usd) cost.lines.emplace_back(*a.all_serverless_usd, "all serverless");
  cost.money = true;
  out << "<figure>" << cost.svg()
      << "<figcaption>Cost vs units (USD for the period)</figcaption></figure>";
  BarChart traffic{
      "Weighted tokens per hour of day vs capacity", "traffic-chart", {}, {}, {}, {}, {}};
  for (std::size_t h = 0; h < 24; ++h) {
    traffic.labels.push_back(std::to_string(h));
    traffic.values.push_back(a.weighted_by_hour_of_day[h]);
    traffic.tooltips.push_back(std::to_string(h) + ":00 UTC: " +
                               tokens(a.weighted_by_hour_of_day[h]) + " weighted tokens");
  }
  if (best.units > 0) {
    traffic.lines.emplace_back(best.units * a.unit->output_tokens_per_second * 3600,
                               std::to_string(best.units) + " units");
  }
  out << "<figure>" << traffic.svg()
      << "<figcaption>Traffic per hour of day (UTC) vs the optimum's "
         "capacity</figcaption></figure>";
  out << "</div><table><tr><th>units</th><th>cost</th><th>provisioned</th><th>spilled</th>"
         "<th>utilization</th><th>$/1M tokens</th></tr>";
  for (const metering::CurvePoint& p : a.curve) {
    out << "<tr" << (p.units == best.units ? " class=\"best\"" : "") << "><td>" << p.units
        << "</td><td>" << usd(p.usd) << "</td><td>" << usd(p.provisioned_usd) << "</td><td>"
        << usd(p.spilled_usd) << "</td><td>" << (p.units ? number(p.utilization * 100) + "%" : "-")
        << "</td><td>"
        << (p.effective_usd_per_million ? usd(*p.effective_usd_per_million) : std::string("-"))
        << "</td></tr>";
  }
  out << "</table></section>";
}

std::string count_units(unsigned n) { return std::to_string(n) + (n == 1 ? " unit" : " units"); }

void write_attribution(std::ostringstream& out, const metering::Report& r) {
  const metering::Attribution& by = r.attribution;
  out << "<table class=\"attribution\"><tr><th>actual by alias</th><th>USD</th></tr>"
      << "<tr><td>aliases</td><td>" << usd(by.aliases_usd) << "</td></tr>"
      << "<tr><td>aliases no longer configured</td><td>" << usd(by.unknown_aliases_usd)
      << "</td></tr><tr><td>idle, not attributed";
  for (std::size_t i = 0; i < by.idle_endpoints.size(); ++i) {
    out << (i ? ", " : " (") << escape(by.idle_endpoints[i].first) << " "
        << usd(by.idle_endpoints[i].second) << (i + 1 == by.idle_endpoints.size() ? ")" : "");
  }
  out << "</td><td>" << usd(by.idle_not_attributed_usd) << "</td></tr><tr class=\"best\"><td>= "
      << "actual</td><td>" << usd(r.actual_usd) << "</td></tr></table>";
}

void write_commitments(std::ostringstream& out, const metering::CommitmentView& v, double hours) {
  out << "<section><h3>" << escape(v.endpoint) << "</h3><p>On demand "
      << usd(v.on_demand_hourly_usd) << "/h: " << usd(v.on_demand_usd)
      << " for the period. A request started on it in " << number(v.busy_hours) << " of "
      << number(hours) << " h (" << number(hours > 0 ? 24 * v.busy_hours / hours : 0)
      << " h/day); on only in those hours, on demand would cost " << usd(v.switched_off_usd);
  if (v.on_demand_optimum_units) {
    out << ". On demand, its unit view's optimum is " << count_units(*v.on_demand_optimum_units)
        << ": " << usd(*v.on_demand_optimum_usd);
  }
  out << ".</p><table class=\"commitments\"><tr><th>term</th><th>$/h</th><th>period cost</th>"
         "<th>saving vs on demand</th><th>saving vs switched off</th><th>breakeven</th>"
         "<th>optimum at this price</th></tr>";
  for (const metering::CommitmentTerm& t : v.terms) {
    std::string breakeven = "-";
    if (t.breakeven_hours_per_day) {
      breakeven =
          *t.breakeven_hours_per_day > 24 ? "never" : number(*t.breakeven_hours_per_day) + " h/day";
    }
    out << "<tr><td>" << escape(t.name) << "</td><td>" << usd(t.hourly_usd) << "</td><td>"
        << usd(t.usd) << "</td><td>" << usd(t.saving_vs_on_demand_usd) << "</td><td>"
        << usd(t.saving_vs_switched_off_usd) << "</td><td>" << breakeven << "</td><td>"
        << (t.optimum_units ? count_units(*t.optimum_units) + ": " + usd(*t.optimum_usd)
                            : std::string("-"))
        << "</td></tr>";
  }
  out << "</table></section>";
}

}  // namespace

std::string report_html(const metering::Report& r) {
  const double per_month = r.hours > 0 ? metering::kHoursPerMonth / r.hours : 0;
  std::ostringstream out;
  out << page_head("Fulcrum breakeven report");
  out << "<h1>Fulcrum breakeven report</h1><p>" << utc_time(r.since_ms) << " to "
      << utc_time(r.until_ms) << " (" << number(r.hours) << " h, " << r.requests
      << " requests). Actual " << usd(r.actual_usd) << " (" << usd(r.actual_usd * per_month)
      << "/month); all serverless " << usd(r.all_serverless_usd) << "; best " << usd(r.best_usd)
      << " (" << usd(r.best_usd * per_month) << "/month, saving "
      << usd((r.actual_usd - r.best_usd) * per_month)
      << "/month).</p><p>Each hour's weighted tokens beyond units × tokens/s × 3600 spill to the "
         "alias's cheapest serverless target; a month is 730 h. Actual cost is serverless spend "
         "plus each provisioned endpoint's hourly price for every hour of the period; an alias "
         "pays each endpoint's whole cost, idle hours included, in proportion to the capacity "
         "its requests used of it; an endpoint no request used is idle, not attributed.</p>";
  write_attribution(out, r);
  const auto section = [&](const char* title, const std::vector<metering::Analysis>& list) {
    if (list.empty()) return;
    out << "<h2>" << title << "</h2>";
    for (const auto& a : list) write_analysis(out, a, r.hours);
  };
  section("Deployed units", r.units);
  section("What-if units", r.candidates);
  section("Aliases", r.aliases);
  if (!r.commitments.empty()) {
    out << "<h2>Commitments</h2><p>A term bills every hour of the period, used or not. Saving "
           "vs switched off: against on demand billed only in the hours a request started on "
           "the endpoint. Breakeven: the hours a day on demand must be on for the term to be "
           "cheaper (24 × term price / on-demand price). Optimum: the unit's cost curve at the "
           "term's price.</p>";
    for (const auto& v : r.commitments) write_commitments(out, v, r.hours);
  }
  out << "</body></html>\n";
  return out.str();
}

}  // namespace fulcrum::report
