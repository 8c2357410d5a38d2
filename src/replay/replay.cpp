// The replay as a pipeline: the period, the arrivals the policy can route, each endpoint
// learnt from the ledger, the simulation, then the two columns side by side.
#include "fulcrum/replay/replay.hpp"

#include <algorithm>
#include <set>

#include "class_tally.hpp"
#include "endpoint_model.hpp"
#include "gateway.hpp"

namespace fulcrum::replay {
namespace {

constexpr double kMillisPerHour = 3'600'000;

void set_period(Replay& r, const std::vector<RecordedRequest>& requests,
                const ReplayOptions& options) {
  std::int64_t first = 0, last = 0;
  if (!requests.empty()) {
    first = requests.front().started_ms;
    last = first;
    for (const RecordedRequest& row : requests) {
      first = std::min(first, row.started_ms);
      last = std::max(last, row.finished_ms);
    }
  }
  r.since_ms = options.since_ms.value_or(first);
  r.until_ms = std::max(options.until_ms.value_or(last), r.since_ms);
  r.hours = static_cast<double>(r.until_ms - r.since_ms) / kMillisPerHour;
}

// Rows as requests to the policy: by alias name (rows of aliases it lacks are left out of
// both columns), in the recorded class when the policy has one of that name.
std::vector<Arrival> arrivals_of(const std::vector<RecordedRequest>& requests,
                                 const config::Config& policy, Replay& r) {
  std::vector<Arrival> arrivals;
  arrivals.reserve(requests.size());
  for (const RecordedRequest& row : requests) {
    ++r.rows;
    if (row.late_answer) {
      ++r.late_answers;
      continue;
    }
    const config::ModelAlias* alias = policy.find_alias(row.alias);
    if (alias == nullptr) {
      ++r.unknown_alias;
      continue;
    }
    Arrival a;
    a.row = &row;
    a.alias = alias;
    a.slo_class = policy.find_slo_class(row.slo_class);
    a.stream = row.stream();
    a.at = TimePoint(std::chrono::milliseconds(row.started_ms));
    a.wall = core::WallTime(std::chrono::milliseconds(row.started_ms));
    arrivals.push_back(a);
  }
  r.replayed = arrivals.size();
  return arrivals;
}

double provisioned_usd(const config::Config& config, double hours) {
  double usd = 0;
  for (const config::Endpoint& e : config.endpoints) {
    if (e.kind == config::EndpointKind::provisioned) usd += e.hourly_usd * hours;
  }
  return usd;
}

Totals predicted_column(const std::vector<Arrival>& arrivals, const std::vector<Outcome>& outcomes,
                        const config::Config& policy, double hours) {
  ClassTally tally(policy);
  Totals t;
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    const Outcome& o = outcomes[i];
    ClassTally::Request request{.slo_class = o.slo_class,
                                .provisioned = std::nullopt,
                                .usd = o.cost.usd(),
                                .ttft_seconds = o.ttft_seconds,
                                .e2e_seconds = o.e2e_seconds,
                                .judged = arrivals[i].row->success,
                                .waited = o.waited,
                                .spilled = o.spilled};
    if (o.endpoint) {
      request.provisioned = policy.endpoints[*o.endpoint].kind == config::EndpointKind::provisioned;
    }
    tally.add(request);
    t.serverless_usd += request.usd;
  }
  t.classes = tally.classes();
  t.provisioned_usd = provisioned_usd(policy, hours);
  t.usd = t.serverless_usd + t.provisioned_usd;
  return t;
}

// What the ledger says happened to the same requests, in the classes the replay gave them.
// Provisioned hours are priced by the baseline's endpoints, or else by the policy's endpoint
// of the same name for each provisioned endpoint the ledger shows serving.
Totals actual_column(const std::vector<RecordedRequest>& requests,
                     const std::vector<Arrival>& arrivals, const std::vector<Outcome>& outcomes,
                     const config::Config& policy, const ReplayOptions& options, Replay& r) {
  ClassTally tally(policy);
  Totals t;
  std::set<std::string> units;
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    const RecordedRequest& row = *arrivals[i].row;
    tally.add({.slo_class = outcomes[i].slo_class,
               .provisioned = row.provisioned,
               .usd = row.cost.usd(),
               .ttft_seconds = row.ttft_ms.value_or(0) / 1000,
               .e2e_seconds = row.duration_ms / 1000,
               .judged = row.success,
               .waited = std::nullopt,
               .spilled = std::nullopt});
  }
  for (const RecordedRequest& row : requests) {
    if (policy.find_alias(row.alias) == nullptr && !row.late_answer) continue;
    t.serverless_usd += row.cost.usd();  // late answers too: they were paid for
    if (row.provisioned) units.insert(row.endpoint);
  }
  t.classes = tally.classes();
  const config::Config& pricing = options.baseline ? *options.baseline : policy;
  r.actual_units_priced_by = options.baseline ? "baseline" : "policy";
  if (options.baseline) t.provisioned_usd = provisioned_usd(*options.baseline, r.hours);
  for (const std::string& unit : units) {
    const auto index = pricing.find_endpoint(unit);
    if (!index || pricing.endpoints[*index].kind != config::EndpointKind::provisioned) {
      r.unpriced_units.push_back(unit);
    } else if (!options.baseline) {
      t.provisioned_usd += pricing.endpoints[*index].hourly_usd * r.hours;
    }
  }
  t.usd = t.serverless_usd + t.provisioned_usd;
  return t;
}

std::vector<EndpointOutcome> endpoint_outcomes(const std::vector<EndpointModel>& models,
                                               const std::vector<Outcome>& outcomes,
                                               const Gateway& gateway, const config::Config& policy,
                                               double hours) {
  std::vector<EndpointOutcome> out(models.size());
  for (std::size_t i = 0; i < models.size(); ++i) {
    EndpointOutcome& e = out[i];
    e.model = models[i];
    e.busy_slot_seconds = gateway.upstream(i).busy_seconds();
    e.peak_waiting = gateway.peak_waiting(i);
    e.cold_starts = gateway.upstream(i).cold_starts();
    if (models[i].provisioned) {
      e.usd = policy.endpoints[i].hourly_usd * hours;
      if (models[i].slots > 0 && hours > 0) {
        e.utilization = e.busy_slot_seconds / (models[i].slots * hours * 3600);
      }
    }
  }
  for (const Outcome& o : outcomes) {
    if (!o.endpoint) continue;
    ++out[*o.endpoint].requests;
    if (!models[*o.endpoint].provisioned) out[*o.endpoint].usd += o.cost.usd();
  }
  return out;
}

constexpr Assumption kAssumptions[] = {
    {"requests",
     "each ledger row is one request at its recorded start, in its recorded SLO class (the "
     "route's when the policy has no class of that name), asking for the output it got as "
     "max_tokens; it streamed when its first byte came clearly before its end. Route headers "
     "and prompt features other than its size are not recorded: routes matching on them do not "
     "match"},
    {"endpoints",
     "each endpoint answers after the median warm time to first token, less the row's wait in "
     "the gateway's queue (queued_ms), of its ledger rows that found room there (they cannot "
     "have queued at the engine) and the median time per output "
     "token of its rows (the policy's latency seeds where it has none); a "
     "provisioned endpoint generates at most capacity.max_concurrency requests at once and "
     "queues the rest, first come first served; a scale-to-zero endpoint idle past "
     "cold_start.after_idle adds its cold start (the ledger's median, else cold_start.p50); "
     "inside a prewarm window it stays warm"},
    {"failures", "every upstream answers: failures, retries and circuit breakers are not replayed"},
    {"attainment",
     "met when time to first token and end-to-end time are within the class's targets (the "
     "policy's, in both columns), over the requests the ledger records as successes"},
    {"cost",
     "serverless tokens at the policy's prices; provisioned endpoints at hourly_usd for the "
     "whole period, used or not (the actual column's at the baseline's, else the policy's "
     "price for each provisioned endpoint the ledger shows)"},
};

}  // namespace

std::span<const Assumption> assumptions() { return kAssumptions; }

Replay replay(const std::vector<RecordedRequest>& requests, const config::Config& policy,
              const ReplayOptions& options) {
  Replay r;
  set_period(r, requests, options);
  const std::vector<Arrival> arrivals = arrivals_of(requests, policy, r);
  const std::vector<EndpointModel> models =
      learn_models(requests, policy, options.baseline ? *options.baseline : policy);
  Gateway gateway(policy, models);
  const std::vector<Outcome> outcomes = gateway.run(arrivals);
  r.predicted = predicted_column(arrivals, outcomes, policy, r.hours);
  r.actual = actual_column(requests, arrivals, outcomes, policy, options, r);
  r.endpoints = endpoint_outcomes(models, outcomes, gateway, policy, r.hours);
  return r;
}

}  // namespace fulcrum::replay
