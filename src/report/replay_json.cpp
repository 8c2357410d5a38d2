// The replay as JSON: a stable shape for scripts (schema fulcrum.replay/v1).
#include <nlohmann/json.hpp>

#include "fulcrum/report/replay_render.hpp"

namespace fulcrum::report {
namespace {

using nlohmann::json;
using replay::ClassOutcome;

template <typename T>
json optional(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json column(const ClassOutcome& c) {
  return {{"requests", c.requests},
          {"provisioned", c.provisioned},
          {"serverless", c.serverless},
          {"unserved", c.unserved},
          {"spilled", optional(c.spilled)},
          {"waited", optional(c.waited)},
          {"judged", c.judged},
          {"met", c.met},
          {"attainment_percent", c.attainment_percent()},
          {"serverless_usd", c.serverless_usd},
          {"ttft_p50_seconds", optional(c.ttft_p50_seconds)},
          {"ttft_p95_seconds", optional(c.ttft_p95_seconds)}};
}

json total(const replay::Totals& t) {
  return {
      {"usd", t.usd}, {"serverless_usd", t.serverless_usd}, {"provisioned_usd", t.provisioned_usd}};
}

json endpoint(const replay::EndpointOutcome& e) {
  const replay::EndpointModel& m = e.model;
  return {{"name", m.name},
          {"kind", m.provisioned ? "provisioned" : "serverless"},
          {"requests", e.requests},
          {"usd", e.usd},
          {"busy_slot_seconds", e.busy_slot_seconds},
          {"utilization", optional(e.utilization)},
          {"peak_waiting", e.peak_waiting},
          {"cold_starts", e.cold_starts},
          {"model",
           {{"ttft_seconds", m.ttft_seconds},
            {"seconds_per_output_token", m.seconds_per_output_token},
            {"slots", m.slots},
            {"cold_start_seconds", m.cold_start ? json(m.cold_start_seconds) : json(nullptr)},
            {"ttft_rows", m.ttft_rows},
            {"per_token_rows", m.per_token_rows},
            {"cold_rows", m.cold_rows}}}};
}

}  // namespace

std::string replay_json(const replay::Replay& r) {
  json assumptions = json::object();
  for (const replay::Assumption& a : replay::assumptions()) assumptions[a.key] = a.text;
  // Both columns count the same requests in the same classes.
  json classes = json::array();
  for (std::size_t i = 0; i < r.predicted.classes.size(); ++i) {
    const ClassOutcome& p = r.predicted.classes[i];
    classes.push_back({{"slo_class", p.slo_class},
                       {"ttft_target_seconds", p.ttft_target_seconds},
                       {"e2e_target_seconds", p.e2e_target_seconds},
                       {"predicted", column(p)},
                       {"actual", column(r.actual.classes[i])}});
  }
  json endpoints = json::array();
  for (const replay::EndpointOutcome& e : r.endpoints) endpoints.push_back(endpoint(e));
  const json out = {{"schema", "fulcrum.replay/v1"},
                    {"period",
                     {{"since_ms", r.since_ms},
                      {"until_ms", r.until_ms},
                      {"hours", r.hours},
                      {"rows", r.rows},
                      {"replayed", r.replayed},
                      {"unknown_alias_requests", r.unknown_alias},
                      {"late_answers", r.late_answers}}},
                    {"assumptions", assumptions},
                    {"total",
                     {{"predicted", total(r.predicted)},
                      {"actual", total(r.actual)},
                      {"actual_units_priced_by", r.actual_units_priced_by},
                      {"unpriced_units", r.unpriced_units}}},
                    {"classes", classes},
                    {"endpoints", endpoints}};
  return out.dump(2);
}

}  // namespace fulcrum::report
