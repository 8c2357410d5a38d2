// The replay as one HTML file, in the breakeven report's style: inline CSS and SVG only.
#include <sstream>

#include "fulcrum/report/render.hpp"
#include "fulcrum/report/replay_render.hpp"
#include "html.hpp"

namespace fulcrum::report {
namespace {

using replay::ClassOutcome;

std::string cell(const std::optional<double>& seconds) {
  return seconds ? number(*seconds * 1000) + " ms" : "-";
}

std::string cell(const std::optional<std::uint64_t>& value) {
  return value ? std::to_string(*value) : "-";
}

void write_classes(std::ostringstream& out, const replay::Replay& r) {
  out << "<h2>SLO classes</h2><table><tr><th>class</th><th>targets</th><th>requests</th>"
         "<th></th><th>SLO attained</th><th>provisioned</th><th>serverless</th><th>spilled</th>"
         "<th>waited</th><th>unserved</th><th>TTFT p50</th><th>TTFT p95</th>"
         "<th>serverless cost</th></tr>";
  for (std::size_t i = 0; i < r.predicted.classes.size(); ++i) {
    const ClassOutcome& p = r.predicted.classes[i];
    for (const ClassOutcome* c : {&r.actual.classes[i], &p}) {
      const bool predicted = c == &p;
      out << "<tr" << (predicted ? " class=\"best\"" : "") << ">";
      if (!predicted) {
        out << "<td rowspan=\"2\">" << escape(p.slo_class) << "</td><td rowspan=\"2\">"
            << number(p.ttft_target_seconds * 1000) << " ms / " << number(p.e2e_target_seconds)
            << " s</td><td rowspan=\"2\">" << p.requests << "</td>";
      }
      out << "<td>" << (predicted ? "predicted" : "actual") << "</td><td>"
          << percent(c->attainment_percent() / 100) << "</td><td>" << c->provisioned << "</td><td>"
          << c->serverless << "</td><td>" << cell(c->spilled) << "</td><td>" << cell(c->waited)
          << "</td><td>" << c->unserved << "</td><td>" << cell(c->ttft_p50_seconds) << "</td><td>"
          << cell(c->ttft_p95_seconds) << "</td><td>" << usd(c->serverless_usd) << "</td></tr>";
    }
  }
  out << "</table>";
}

void write_endpoints(std::ostringstream& out, const replay::Replay& r) {
  out << "<h2>Endpoints as replayed</h2><table><tr><th>endpoint</th><th>kind</th>"
         "<th>TTFT</th><th>per output token</th><th>slots</th><th>cold start</th>"
         "<th>learnt from rows</th><th>requests</th><th>cost</th><th>utilization</th>"
         "<th>peak waiting</th><th>cold starts</th></tr>";
  for (const replay::EndpointOutcome& e : r.endpoints) {
    const replay::EndpointModel& m = e.model;
    out << "<tr><td>" << escape(m.name) << "</td><td>"
        << (m.provisioned ? "provisioned" : "serverless") << "</td><td>"
        << number(m.ttft_seconds * 1000) << " ms</td><td>"
        << number(m.seconds_per_output_token * 1000) << " ms</td><td>"
        << (m.slots ? std::to_string(m.slots) : "-") << "</td><td>"
        << (m.cold_start ? number(m.cold_start_seconds) + " s" : "-") << "</td><td>" << m.ttft_rows
        << " / " << m.per_token_rows << " / " << m.cold_rows << "</td><td>" << e.requests
        << "</td><td>" << usd(e.usd) << "</td><td>"
        << (e.utilization ? percent(*e.utilization) : "-") << "</td><td>" << e.peak_waiting
        << "</td><td>" << e.cold_starts << "</td></tr>";
  }
  out << "</table><p>Learnt from rows: the ledger rows behind the TTFT, per-token and "
         "cold-start figures; 0 means the policy's seed.</p>";
}

}  // namespace

std::string replay_html(const replay::Replay& r) {
  std::ostringstream out;
  out << page_head("Fulcrum replay");
  out << "<h1>Fulcrum replay</h1><p>" << utc_time(r.since_ms) << " to " << utc_time(r.until_ms)
      << " (" << number(r.hours) << " h): " << r.replayed << " of " << r.rows
      << " ledger rows replayed";
  if (r.unknown_alias > 0)
    out << "; " << r.unknown_alias << " of aliases the policy lacks left out";
  if (r.late_answers > 0) out << "; " << r.late_answers << " late answers in the actual cost only";
  out << ".</p><p>Actual " << usd(r.actual.usd) << " (serverless " << usd(r.actual.serverless_usd)
      << " + provisioned " << usd(r.actual.provisioned_usd) << ", units priced by the "
      << escape(r.actual_units_priced_by) << "); predicted <b>" << usd(r.predicted.usd)
      << "</b> (serverless " << usd(r.predicted.serverless_usd) << " + provisioned "
      << usd(r.predicted.provisioned_usd) << ").</p>";
  if (!r.unpriced_units.empty()) {
    out << "<p>Provisioned in the ledger but not in the config pricing its units, so not priced:";
    for (const std::string& unit : r.unpriced_units) out << " " << escape(unit);
    out << "</p>";
  }
  BarChart cost{"Cost for the period", "cost-chart", {}, {}, {}, 1, {}};
  const std::pair<const char*, const replay::Totals*> columns[] = {{"actual", &r.actual},
                                                                   {"predicted", &r.predicted}};
  for (const auto& [label, totals] : columns) {
    cost.labels.emplace_back(label);
    cost.values.push_back(totals->usd);
    cost.tooltips.push_back(std::string(label) + ": " + usd(totals->usd) + " (" +
                            usd(totals->serverless_usd) + " serverless + " +
                            usd(totals->provisioned_usd) + " provisioned)");
  }
  cost.money = true;
  out << "<div class=\"charts\"><figure>" << cost.svg()
      << "<figcaption>Cost for the period, actual and predicted (USD)</figcaption></figure></div>";
  write_classes(out, r);
  write_endpoints(out, r);
  out << "<h2>Assumptions</h2><ul>";
  for (const replay::Assumption& a : replay::assumptions()) {
    out << "<li><b>" << a.key << "</b>: " << escape(a.text) << "</li>";
  }
  out << "</ul></body></html>\n";
  return out.str();
}

}  // namespace fulcrum::report
