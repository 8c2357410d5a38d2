#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "fulcrum/report/render.hpp"

namespace fulcrum::report {

std::string usd(double amount) {
  char text[64];
  if (amount == 0) return "$0.00";
  if (std::abs(amount) < 1) {
    std::snprintf(text, sizeof text, "$%.4f", amount);
    return text;
  }
  std::snprintf(text, sizeof text, "%.2f", std::abs(amount));
  std::string digits = text;
  const auto dot = digits.find('.');
  for (auto at = static_cast<long>(dot) - 3; at > 0; at -= 3) {
    digits.insert(static_cast<std::size_t>(at), ",");
  }
  return (amount < 0 ? "-$" : "$") + digits;
}

std::string tokens(double count) {
  char text[32];
  if (count >= 1e9) {
    std::snprintf(text, sizeof text, "%.2f B", count / 1e9);
  } else if (count >= 1e6) {
    std::snprintf(text, sizeof text, "%.1f M", count / 1e6);
  } else if (count >= 1e3) {
    std::snprintf(text, sizeof text, "%.1f k", count / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f", count);
  }
  return text;
}

std::string utc_time(std::int64_t unix_ms) {
  const std::time_t seconds = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

// A unit's view counts its whole cost, its aliases' views their shares: where they part, why.
std::string reconciliation(const metering::Analysis& a) {
  const auto& r = a.reconciliation;
  if (!r || std::abs(r->aliases_actual_usd - a.actual_usd) < 0.005) return "";
  std::string why = "its aliases' own views add up to " + usd(r->aliases_actual_usd);
  const char* separator = ": ";
  if (std::abs(r->charged_outside_usd) >= 0.005) {
    why += separator + usd(r->charged_outside_usd) +
           " of the unit's cost is charged outside them (to other aliases, to aliases no longer "
           "configured, or idle, not attributed)";
    separator = "; ";
  }
  if (r->aliases_other_units_usd >= 0.005) {
    why +=
        separator + std::string("they pay ") + usd(r->aliases_other_units_usd) + " for other units";
  }
  return why;
}

std::string percent(double ratio) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", ratio * 100);
  return text;
}

namespace {

std::string count_units(unsigned n) { return std::to_string(n) + (n == 1 ? " unit" : " units"); }

void write_analysis(std::ostringstream& out, const metering::Analysis& a, double hours) {
  const double per_month = hours > 0 ? metering::kHoursPerMonth / hours : 0;
  out << "\n" << a.subject;
  if (a.aliases.size() > 1 || (a.aliases.size() == 1 && a.aliases[0] != a.subject)) {
    out << " (aliases:";
    for (const auto& alias : a.aliases) out << " " << alias;
    out << ")";
  }
  out << ": " << a.requests << " requests, " << tokens(a.input_tokens) << " input + "
      << tokens(a.output_tokens) << " output tokens\n";
  out << "  actual " << usd(a.actual_usd) << " (serverless " << usd(a.actual_serverless_usd)
      << " + provisioned " << usd(a.actual_provisioned_usd) << ")";
  if (a.all_serverless_usd) out << " | all serverless " << usd(*a.all_serverless_usd);
  out << "\n";
  if (const std::string why = reconciliation(a); !why.empty()) out << "  " << why << "\n";
  if (!a.unit) {
    out << "  no provisioned unit with a token throughput serves it\n";
    return;
  }
  out << "  unit " << a.unit->name << (a.unit->deployed ? "" : " (what-if)") << ": "
      << usd(a.unit->hourly_usd) << "/h, " << a.unit->output_tokens_per_second
      << " tokens/s, input weight " << a.unit->input_token_weight << "\n";
  if (a.curve.empty()) {
    out << "  no serverless alternative to spill to: not sized\n";
    return;
  }
  char line[160];
  std::snprintf(line, sizeof line, "  %6s %14s %14s %14s %12s %12s\n", "units", "cost",
                "provisioned", "spilled", "utilization", "$/1M tokens");
  out << line;
  for (const metering::CurvePoint& p : a.curve) {
    const bool best = a.optimum_units && *a.optimum_units == p.units;
    std::snprintf(line, sizeof line, "%s %5u %14s %14s %14s %12s %12s\n", best ? "  *" : "   ",
                  p.units, usd(p.usd).c_str(), usd(p.provisioned_usd).c_str(),
                  usd(p.spilled_usd).c_str(), p.units ? percent(p.utilization).c_str() : "-",
                  p.effective_usd_per_million ? usd(*p.effective_usd_per_million).c_str() : "-");
    out << line;
  }
  const metering::CurvePoint& best = a.curve[*a.optimum_units];
  out << "  optimum " << best.units << (best.units == 1 ? " unit: " : " units: ") << usd(best.usd)
      << " for the period, " << usd(best.usd * per_month) << "/month; saves "
      << usd((a.all_serverless_usd.value_or(best.usd) - best.usd) * per_month)
      << "/month against all serverless, " << usd((a.actual_usd - best.usd) * per_month)
      << "/month against the actual mix\n";
  if (a.breakeven_tokens_per_month && a.next_unit_tokens_per_month) {
    out << "  breakeven: a unit pays for itself when it serves "
        << tokens(*a.breakeven_tokens_per_month) << " tokens/month; the next one would serve "
        << tokens(*a.next_unit_tokens_per_month) << " ("
        << percent(*a.next_unit_tokens_per_month / *a.breakeven_tokens_per_month)
        << " of that); traffic is " << tokens(a.traffic_tokens_per_month) << " tokens/month\n";
  }
}

void write_commitments(std::ostringstream& out, const metering::CommitmentView& v, double hours) {
  char line[200];
  std::snprintf(line, sizeof line, "%.1f of %g h (%.1f h/day)", v.busy_hours, hours,
                hours > 0 ? 24 * v.busy_hours / hours : 0);
  out << "\n"
      << v.endpoint << ": on demand " << usd(v.on_demand_hourly_usd) << "/h, "
      << usd(v.on_demand_usd) << " for the period; a request started on it in " << line
      << ": on only in those hours, on demand would cost " << usd(v.switched_off_usd) << "\n";
  if (v.on_demand_optimum_units) {
    out << "  on demand, its unit view's optimum is " << count_units(*v.on_demand_optimum_units)
        << ": " << usd(*v.on_demand_optimum_usd) << "\n";
  }
  std::snprintf(line, sizeof line, "  %-12s %10s %12s %14s %16s %12s %20s\n", "term", "$/h",
                "period cost", "vs on demand", "vs switched off", "breakeven", "optimum");
  out << line;
  for (const metering::CommitmentTerm& t : v.terms) {
    char breakeven[32] = "-";
    if (t.breakeven_hours_per_day && *t.breakeven_hours_per_day > 24) {
      std::snprintf(breakeven, sizeof breakeven, "never");
    } else if (t.breakeven_hours_per_day) {
      std::snprintf(breakeven, sizeof breakeven, "%.1f h/day", *t.breakeven_hours_per_day);
    }
    const std::string optimum =
        t.optimum_units ? count_units(*t.optimum_units) + ": " + usd(*t.optimum_usd) : "-";
    std::snprintf(line, sizeof line, "  %-12s %10s %12s %14s %16s %12s %20s\n", t.name.c_str(),
                  usd(t.hourly_usd).c_str(), usd(t.usd).c_str(),
                  usd(t.saving_vs_on_demand_usd).c_str(), usd(t.saving_vs_switched_off_usd).c_str(),
                  breakeven, optimum.c_str());
    out << line;
  }
}

}  // namespace

std::string report_text(const metering::Report& r) {
  std::ostringstream out;
  const double per_month = r.hours > 0 ? metering::kHoursPerMonth / r.hours : 0;
  out << "Fulcrum breakeven report: " << utc_time(r.since_ms) << " to " << utc_time(r.until_ms)
      << " (" << r.hours << " h, " << r.requests << " requests)\n";
  if (r.unknown_alias_requests > 0) {
    out << r.unknown_alias_requests << " requests of aliases no longer configured are left out\n";
  }
  out << "Total: actual " << usd(r.actual_usd) << " (" << usd(r.actual_usd * per_month)
      << "/month) | all serverless " << usd(r.all_serverless_usd) << " | best " << usd(r.best_usd)
      << " (" << usd(r.best_usd * per_month) << "/month, saving "
      << usd((r.actual_usd - r.best_usd) * per_month) << "/month)\n";
  const metering::Attribution& by = r.attribution;
  out << "Actual by alias: aliases " << usd(by.aliases_usd) << " + aliases no longer configured "
      << usd(by.unknown_aliases_usd) << " + idle, not attributed "
      << usd(by.idle_not_attributed_usd);
  if (!by.idle_endpoints.empty()) {
    out << " (";
    for (std::size_t i = 0; i < by.idle_endpoints.size(); ++i) {
      out << (i ? ", " : "") << by.idle_endpoints[i].first << " "
          << usd(by.idle_endpoints[i].second);
    }
    out << ")";
  }
  out << " = " << usd(r.actual_usd) << "\n";
  out << "Capacity model: each hour's weighted tokens beyond units x tokens/s x 3600 spill to "
         "the alias's cheapest serverless target. A month is 730 h.\n";
  out << "Actual cost: serverless spend plus each provisioned endpoint's hourly price for every "
         "hour of the period; an alias pays each endpoint's whole cost, idle hours included, in "
         "proportion to the capacity its requests used of it (their amortized cost); an endpoint "
         "no request used is idle, not attributed.\n";
  const auto section = [&](const char* title, const std::vector<metering::Analysis>& list) {
    if (list.empty()) return;
    out << "\n== " << title << " ==\n";
    for (const auto& a : list) write_analysis(out, a, r.hours);
  };
  section("Deployed units (all the aliases each serves)", r.units);
  section("What-if units (reports.candidates)", r.candidates);
  section("Aliases", r.aliases);
  if (!r.commitments.empty()) {
    out << "\n== Commitments (endpoints.*.commitments) ==\n"
           "A term bills every hour of the period, used or not. \"vs on demand\": the saving "
           "against on demand every hour; \"vs switched off\": against on demand only in the "
           "hours a request started on the endpoint. Breakeven: the hours a day on demand must "
           "be on for the term to be cheaper (24 x term price / on-demand price). Optimum: the "
           "unit view's curve at the term's price.\n";
    for (const auto& v : r.commitments) write_commitments(out, v, r.hours);
  }
  return out.str();
}

}  // namespace fulcrum::report
