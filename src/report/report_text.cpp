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

namespace {

std::string percent(double ratio) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", ratio * 100);
  return text;
}

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
  out << "  actual " << usd(a.actual_usd);
  if (a.all_serverless_usd) out << " | all serverless " << usd(*a.all_serverless_usd);
  out << "\n";
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
  out << "Capacity model: each hour's weighted tokens beyond units x tokens/s x 3600 spill to "
         "the alias's cheapest serverless target. A month is 730 h.\n";
  const auto section = [&](const char* title, const std::vector<metering::Analysis>& list) {
    if (list.empty()) return;
    out << "\n== " << title << " ==\n";
    for (const auto& a : list) write_analysis(out, a, r.hours);
  };
  section("Deployed units (all the aliases each serves)", r.units);
  section("What-if units (reports.candidates)", r.candidates);
  section("Aliases", r.aliases);
  return out.str();
}

}  // namespace fulcrum::report
