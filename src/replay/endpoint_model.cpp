#include "endpoint_model.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <queue>

#include "prewarm.hpp"

namespace fulcrum::replay {
namespace {

// Fewer cold rows than this say too little about a cold start: the config's p50 stands.
constexpr std::size_t kMinColdRows = 3;
// Fewer rows that surely did not wait than this: the time to first token is learnt from all.
constexpr std::size_t kMinRoomyRows = 5;

double seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

// The median resists what a mean would not: rows that also waited in a queue, in the gateway
// or at the engine, lengthen the tail, not the middle.
std::optional<double> median(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

EndpointModel seeded(const config::Endpoint& endpoint) {
  EndpointModel m;
  m.name = endpoint.name;
  m.provisioned = endpoint.kind == config::EndpointKind::provisioned;
  m.ttft_seconds = seconds(endpoint.latency.ttft);
  m.seconds_per_output_token = endpoint.latency.seconds_per_output_token;
  if (m.provisioned) m.slots = endpoint.capacity.max_concurrency;
  m.cold_start = endpoint.cold_start;
  if (endpoint.cold_start) m.cold_start_seconds = seconds(endpoint.cold_start->p50);
  return m;
}

// Which of an endpoint's rows (oldest first) arrived after it idled past `after_idle`, as a
// scale-to-zero endpoint judges it: active at every arrival and every answer's end.
std::vector<bool> cold_rows(const std::vector<const RecordedRequest*>& rows,
                            const config::Endpoint* recorded) {
  std::vector<bool> cold(rows.size(), false);
  if (recorded == nullptr || !recorded->cold_start) return cold;
  const std::int64_t after_idle = recorded->cold_start->after_idle.count();
  PrewarmWindows prewarm(*recorded);
  std::optional<std::int64_t> latest_start, latest_finish;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const RecordedRequest& r = *rows[i];
    std::optional<std::int64_t> active = latest_start;
    // An answer still running at this arrival kept the endpoint busy until now.
    if (latest_finish) active = std::max(*active, std::min(*latest_finish, r.started_ms));
    const bool warm = prewarm.warm(core::WallTime(std::chrono::milliseconds(r.started_ms)));
    cold[i] = !warm && (!active || r.started_ms - *active > after_idle);
    latest_start = r.started_ms;
    latest_finish = std::max(latest_finish.value_or(r.finished_ms), r.finished_ms);
  }
  return cold;
}

// The most requests an endpoint holds before some class must wait or spill there: its general
// share, the smaller of the policy's and the recorded run's. None without a capacity.
std::optional<unsigned> general_share(const config::Endpoint& endpoint,
                                      const config::Endpoint* recorded) {
  std::optional<unsigned> share;
  for (const config::Endpoint* e : {&endpoint, recorded}) {
    if (e == nullptr || e->kind != config::EndpointKind::provisioned ||
        e->capacity.max_concurrency == 0) {
      continue;
    }
    const auto own = static_cast<unsigned>(
        std::floor(e->capacity.max_concurrency * (1.0 - e->headroom.fraction) + 1e-9));
    share = std::min(share.value_or(own), own);
  }
  return share;
}

// Which rows (oldest first) arrived while fewer rows were in flight there than the general
// share: they cannot have waited for a slot there, in the gateway or at the engine, so their time
// to first token is the endpoint's own. A waiting request's row counts as in flight while it waits,
// which only makes the test stricter.
std::vector<bool> roomy_rows(const std::vector<const RecordedRequest*>& rows,
                             std::optional<unsigned> share) {
  std::vector<bool> roomy(rows.size(), true);
  if (!share) return roomy;
  std::priority_queue<std::int64_t, std::vector<std::int64_t>, std::greater<>> running;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    while (!running.empty() && running.top() <= rows[i]->started_ms) running.pop();
    roomy[i] = running.size() < *share;
    running.push(rows[i]->finished_ms);
  }
  return roomy;
}

// Times to first token are learnt net of the wait in the gateway the ledger records apart
// (queued_ms): a request that waited for a slot here, or for another endpoint's before it
// spilled here, took no longer at this endpoint for it.
void learn(EndpointModel& m, const std::vector<const RecordedRequest*>& rows,
           const config::Endpoint& endpoint, const config::Endpoint* recorded) {
  const std::vector<bool> cold = cold_rows(rows, recorded);
  const std::vector<bool> roomy = roomy_rows(rows, general_share(endpoint, recorded));
  std::size_t roomy_streams = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    roomy_streams += !cold[i] && roomy[i] && rows[i]->ttft_ms && rows[i]->stream() ? 1 : 0;
  }
  // Too few rows found room: a saturated endpoint's rows are all that can be learnt from.
  const bool only_roomy = roomy_streams >= kMinRoomyRows;
  std::vector<double> ttft, per_token;
  std::vector<const RecordedRequest*> whole;  // answers not streamed: first token unseen
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const RecordedRequest& r = *rows[i];
    if (cold[i] || !r.ttft_ms) continue;
    const double output = static_cast<double>(r.usage.output);
    // Waits come before the first byte: the time per token of every row is the endpoint's.
    if (r.stream() && output > 1) {
      per_token.push_back((r.duration_ms - *r.ttft_ms) / 1000 / output);
    }
    if (only_roomy && !roomy[i]) continue;
    if (r.stream()) {
      ttft.push_back(r.served_ttft_ms() / 1000);
    } else if (output > 0) {
      whole.push_back(&r);
    }
  }
  if (const auto learnt = median(ttft)) {
    m.ttft_seconds = *learnt;
    m.ttft_rows = ttft.size();
  }
  if (per_token.empty()) {
    // Whole answers only: what their duration leaves after the first token's time.
    for (const RecordedRequest* r : whole) {
      per_token.push_back(std::max(0.0, (r->duration_ms - r->queued_ms) / 1000 - m.ttft_seconds) /
                          static_cast<double>(r->usage.output));
    }
  }
  if (const auto learnt = median(per_token)) {
    m.seconds_per_output_token = *learnt;
    m.per_token_rows = per_token.size();
  }
  std::vector<double> excess;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const RecordedRequest& r = *rows[i];
    if (!cold[i] || !r.ttft_ms) continue;
    const double warm = r.stream() ? m.ttft_seconds
                                   : m.ttft_seconds + static_cast<double>(r.usage.output) *
                                                          m.seconds_per_output_token;
    excess.push_back(std::max(0.0, r.served_ttft_ms() / 1000 - warm));
  }
  if (m.cold_start && excess.size() >= kMinColdRows) {
    m.cold_start_seconds = *median(excess);
    m.cold_rows = excess.size();
  }
}

}  // namespace

std::vector<EndpointModel> learn_models(const std::vector<RecordedRequest>& rows,
                                        const config::Config& policy,
                                        const config::Config& recorded_run) {
  std::vector<EndpointModel> models;
  std::vector<std::vector<const RecordedRequest*>> served(policy.endpoints.size());
  for (const config::Endpoint& endpoint : policy.endpoints) models.push_back(seeded(endpoint));
  for (const RecordedRequest& row : rows) {
    if (!row.success || row.late_answer) continue;
    if (const auto index = policy.find_endpoint(row.endpoint)) served[*index].push_back(&row);
  }
  for (std::size_t i = 0; i < models.size(); ++i) {
    const auto recorded = recorded_run.find_endpoint(models[i].name);
    learn(models[i], served[i], policy.endpoints[i],
          recorded ? &recorded_run.endpoints[*recorded] : nullptr);
  }
  return models;
}

}  // namespace fulcrum::replay
