// The replay as text: totals, then per class the actual and the predicted side by side, then
// each endpoint as the replay modelled it.
#include <cstdio>
#include <sstream>

#include "fulcrum/report/render.hpp"
#include "fulcrum/report/replay_render.hpp"

namespace fulcrum::report {
namespace {

using replay::ClassOutcome;

std::string seconds(const std::optional<double>& value) {
  if (!value) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", *value);
  return text;
}

std::string count(const std::optional<std::uint64_t>& value) {
  return value ? std::to_string(*value) : "-";
}

void write_classes(std::ostringstream& out, const replay::Replay& r) {
  char line[240];
  out << "\n== SLO classes: actual | predicted ==\n";
  std::snprintf(line, sizeof line, "%-12s %8s %17s %13s %13s %8s %7s %8s\n", "class", "requests",
                "SLO attained", "provisioned", "serverless", "spilled", "waited", "unserved");
  out << line;
  for (std::size_t i = 0; i < r.predicted.classes.size(); ++i) {
    const ClassOutcome& p = r.predicted.classes[i];
    const ClassOutcome& a = r.actual.classes[i];
    std::snprintf(line, sizeof line,
                  "%-12s %8llu %8s|%-8s %6llu|%-6llu %6llu|%-6llu %8s %7s %8llu\n",
                  p.slo_class.c_str(), static_cast<unsigned long long>(p.requests),
                  percent(a.attainment_percent() / 100).c_str(),
                  percent(p.attainment_percent() / 100).c_str(),
                  static_cast<unsigned long long>(a.provisioned),
                  static_cast<unsigned long long>(p.provisioned),
                  static_cast<unsigned long long>(a.serverless),
                  static_cast<unsigned long long>(p.serverless), count(p.spilled).c_str(),
                  count(p.waited).c_str(), static_cast<unsigned long long>(p.unserved));
    out << line;
  }
  std::snprintf(line, sizeof line, "\n%-12s %21s %21s %23s\n", "class", "targets ttft / e2e",
                "TTFT p95", "serverless cost");
  out << line;
  for (std::size_t i = 0; i < r.predicted.classes.size(); ++i) {
    const ClassOutcome& p = r.predicted.classes[i];
    const ClassOutcome& a = r.actual.classes[i];
    char targets[64];
    std::snprintf(targets, sizeof targets, "%.3f s / %.1f s", p.ttft_target_seconds,
                  p.e2e_target_seconds);
    std::snprintf(line, sizeof line, "%-12s %21s %10s|%-10s %11s|%-11s\n", p.slo_class.c_str(),
                  targets, seconds(a.ttft_p95_seconds).c_str(), seconds(p.ttft_p95_seconds).c_str(),
                  usd(a.serverless_usd).c_str(), usd(p.serverless_usd).c_str());
    out << line;
  }
}

void write_endpoints(std::ostringstream& out, const replay::Replay& r) {
  char line[240];
  out << "\n== Endpoints as replayed ==\n";
  std::snprintf(line, sizeof line, "%-14s %-11s %9s %9s %5s %9s %12s %8s %11s %7s %6s %5s\n",
                "endpoint", "kind", "ttft", "s/token", "slots", "cold", "learnt rows", "requests",
                "cost", "use", "peak q", "colds");
  out << line;
  for (const replay::EndpointOutcome& e : r.endpoints) {
    const replay::EndpointModel& m = e.model;
    char learnt[48];
    std::snprintf(learnt, sizeof learnt, "%llu/%llu/%llu",
                  static_cast<unsigned long long>(m.ttft_rows),
                  static_cast<unsigned long long>(m.per_token_rows),
                  static_cast<unsigned long long>(m.cold_rows));
    std::snprintf(line, sizeof line,
                  "%-14s %-11s %7.3f s %9.4f %5u %9s %12s %8llu %11s %7s %6u %5llu\n",
                  m.name.c_str(), m.provisioned ? "provisioned" : "serverless", m.ttft_seconds,
                  m.seconds_per_output_token, m.slots,
                  m.cold_start ? seconds(m.cold_start_seconds).c_str() : "-", learnt,
                  static_cast<unsigned long long>(e.requests), usd(e.usd).c_str(),
                  e.utilization ? percent(*e.utilization).c_str() : "-", e.peak_waiting,
                  static_cast<unsigned long long>(e.cold_starts));
    out << line;
  }
  out << "(learnt rows: ledger rows behind the TTFT / per-token / cold-start figures; 0 = the "
         "policy's seed)\n";
}

}  // namespace

std::string replay_text(const replay::Replay& r) {
  std::ostringstream out;
  char hours[32];
  std::snprintf(hours, sizeof hours, "%.2f h", r.hours);
  out << "Fulcrum replay: " << utc_time(r.since_ms) << " to " << utc_time(r.until_ms) << " ("
      << hours << "): " << r.replayed << " of " << r.rows << " ledger rows replayed\n";
  if (r.unknown_alias > 0) {
    out << r.unknown_alias << " rows of aliases the policy lacks are left out of both columns\n";
  }
  if (r.late_answers > 0) {
    out << r.late_answers << " late answers count in the actual cost only\n";
  }
  out << "Cost: actual " << usd(r.actual.usd) << " (serverless " << usd(r.actual.serverless_usd)
      << " + provisioned " << usd(r.actual.provisioned_usd) << ", units priced by the "
      << r.actual_units_priced_by << ") | predicted " << usd(r.predicted.usd) << " (serverless "
      << usd(r.predicted.serverless_usd) << " + provisioned " << usd(r.predicted.provisioned_usd)
      << ")\n";
  if (!r.unpriced_units.empty()) {
    out << "Provisioned in the ledger but not in the config pricing its units, so not priced:";
    for (const std::string& unit : r.unpriced_units) out << " " << unit;
    out << "\n";
  }
  write_classes(out, r);
  write_endpoints(out, r);
  out << "\nAssumptions:\n";
  for (const replay::Assumption& a : replay::assumptions()) {
    out << "- " << a.key << ": " << a.text << "\n";
  }
  return out.str();
}

}  // namespace fulcrum::report
