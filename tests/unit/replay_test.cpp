// `fulcrum replay`'s simulation on hand-built ledger rows, against numbers computed by hand:
// capacity, spill and its price, the wait for a slot, headroom a waiting request never takes,
// cold starts, the period's cost, and what the endpoint models learn from the ledger.
#include "fulcrum/replay/replay.hpp"

#include <gtest/gtest.h>

#include "fulcrum/config/loader.hpp"

namespace fulcrum::replay {
namespace {

constexpr std::int64_t kT0 = 1793491200000;  // 2026-11-01T00:00:00Z
constexpr std::int64_t kHourMs = 3'600'000;

// One unit of 2 slots at $3.60/h, and a serverless API at $1 per 1M input and $2 per 1M
// output tokens. The seeds are the speeds the rows below show: 100 ms to the first token, 10 ms
// per token after it.
std::string policy_yaml(const std::string& standard_wait, const std::string& headroom = "") {
  return R"(version: 1
slo_classes:
  realtime: {priority: 100, ttft: 800ms, e2e: 30s, max_queue_wait: 0ms}
  standard: {priority: 50, ttft: 2s, e2e: 60s, max_queue_wait: )" +
         standard_wait + R"(}
  batch: {priority: 10, ttft: 60s, e2e: 600s, max_queue_wait: 30s}
endpoints:
  cloud:
    kind: serverless
    base_url: http://127.0.0.1:1/v1
    pricing: {m: {input: 1.0, output: 2.0}}
    latency: {ttft: 100ms, per_output_token: 10ms}
  gpu:
    kind: provisioned
    base_url: http://127.0.0.1:2/v1
    hourly_usd: 3.6
    capacity: {max_concurrency: 2}
)" + headroom +
         R"(
    latency: {ttft: 100ms, per_output_token: 10ms}
  scale0:
    kind: serverless
    base_url: http://127.0.0.1:3/v1
    pricing: {m: {input: 1.0, output: 2.0}}
    latency: {ttft: 200ms, per_output_token: 10ms}
    cold_start: {after_idle: 10s, p50: 2s, p95: 3s}
models:
  llama: {targets: [cloud/m, gpu/llama]}
  bursty: {targets: [scale0/m]}
ledger: {enabled: false}
)";
}

config::Config load(const std::string& yaml) {
  auto loaded = config::load_string(yaml, "policy.yaml");
  if (!loaded) {
    for (const auto& issue : loaded.error()) ADD_FAILURE() << issue.to_string();
  }
  return std::move(*loaded);
}

// A streamed request of 1,000 input and 90 output tokens that was served at the model's speed:
// first token after 100 ms, then 90 × 10 ms, so it lasted 1 s.
RecordedRequest request(std::int64_t at_ms, const std::string& slo_class,
                        const std::string& endpoint = "gpu", const std::string& alias = "llama") {
  RecordedRequest r;
  r.started_ms = at_ms;
  r.finished_ms = at_ms + 1000;
  r.alias = alias;
  r.route = "default";
  r.slo_class = slo_class;
  r.endpoint = endpoint;
  r.provisioned = endpoint == "gpu";
  r.usage = core::Usage{.input = 1000, .output = 90};
  // What the gateway charged at the margin: nothing on the unit, tokens × prices elsewhere.
  if (!r.provisioned) r.cost = core::Money{1000 * 1000 + 90 * 2000};
  r.ttft_ms = 100;
  r.duration_ms = 1000;
  r.success = true;
  return r;
}

const ClassOutcome& predicted(const Replay& r, const std::string& slo_class) {
  for (const ClassOutcome& c : r.predicted.classes) {
    if (c.slo_class == slo_class) return c;
  }
  ADD_FAILURE() << "no class " << slo_class;
  return r.predicted.classes.front();
}

const EndpointOutcome& endpoint(const Replay& r, const std::string& name) {
  for (const EndpointOutcome& e : r.endpoints) {
    if (e.model.name == name) return e;
  }
  ADD_FAILURE() << "no endpoint " << name;
  return r.endpoints.front();
}

ReplayOptions one_hour() {
  ReplayOptions options;
  options.since_ms = kT0;
  options.until_ms = kT0 + kHourMs;
  return options;
}

// Serverless: 1,000 input tokens at $1/1M + 90 output tokens at $2/1M = $0.00118.
constexpr double kServerlessRequestUsd = 0.001 + 0.00018;

TEST(Replay, AThirdSimultaneousRequestSpillsToServerlessWhenItsClassMayNotWait) {
  const config::Config policy = load(policy_yaml("0ms"));
  const std::vector<RecordedRequest> rows{request(kT0, "standard"), request(kT0, "standard"),
                                          request(kT0, "standard")};
  const Replay r = replay(rows, policy, one_hour());
  const ClassOutcome& standard = predicted(r, "standard");
  EXPECT_EQ(standard.requests, 3u);
  EXPECT_EQ(standard.provisioned, 2u);
  EXPECT_EQ(standard.serverless, 1u);
  EXPECT_EQ(standard.spilled, 1u);
  EXPECT_EQ(standard.waited, 0u);
  EXPECT_NEAR(standard.serverless_usd, kServerlessRequestUsd, 1e-12);
  // The unit costs its hour whether used or not.
  EXPECT_NEAR(r.predicted.provisioned_usd, 3.6, 1e-12);
  EXPECT_NEAR(r.predicted.usd, 3.6 + kServerlessRequestUsd, 1e-12);
  EXPECT_EQ(endpoint(r, "cloud").requests, 1u);
  EXPECT_EQ(endpoint(r, "gpu").requests, 2u);
  // Each answer arrives after 100 ms and ends after 1 s: every target met.
  EXPECT_EQ(standard.judged, 3u);
  EXPECT_EQ(standard.met, 3u);
  EXPECT_NEAR(*standard.ttft_p95_seconds, 0.1, 1e-9);
}

TEST(Replay, ABatchRequestWaitsForTheFirstSlotThatFreesAndCostsNothing) {
  const config::Config policy = load(policy_yaml("0ms"));
  const std::vector<RecordedRequest> rows{request(kT0, "batch"), request(kT0, "batch"),
                                          request(kT0, "batch")};
  const Replay r = replay(rows, policy, one_hour());
  const ClassOutcome& batch = predicted(r, "batch");
  EXPECT_EQ(batch.provisioned, 3u);
  EXPECT_EQ(batch.serverless, 0u);
  EXPECT_EQ(batch.waited, 1u);
  EXPECT_EQ(batch.spilled, 0u);
  EXPECT_NEAR(batch.serverless_usd, 0, 1e-12);
  EXPECT_NEAR(r.predicted.usd, 3.6, 1e-12);
  // The third waited 1 s for a slot, then took 100 ms to its first token.
  EXPECT_NEAR(*batch.ttft_p95_seconds, 1.1, 1e-6);
  EXPECT_EQ(endpoint(r, "gpu").peak_waiting, 1u);
  EXPECT_EQ(batch.met, 3u);
}

TEST(Replay, AWaitThatWouldOutlastTheClassBudgetSpillsInstead) {
  // Standard may wait 200 ms: the router predicts a slot in about a second, so it spills.
  const config::Config policy = load(policy_yaml("200ms"));
  const std::vector<RecordedRequest> rows{request(kT0, "standard"), request(kT0, "standard"),
                                          request(kT0, "standard")};
  const Replay r = replay(rows, policy, one_hour());
  EXPECT_EQ(predicted(r, "standard").serverless, 1u);
  EXPECT_EQ(predicted(r, "standard").waited, 0u);
}

TEST(Replay, AWaitingBatchRequestNeverTakesTheSlotHeadroomKeepsForRealtime) {
  // Half of the 2 slots is kept for realtime: batch's share is 1.
  const config::Config policy =
      load(policy_yaml("0ms", "    headroom: {fraction: 0.5, reserved_for: [realtime]}"));
  // Batch A takes batch's slot at t0; batch B waits though the reserved slot is free; realtime
  // R takes it at 0.5 s. When A ends (1 s), B takes batch's slot beside R, which stands in the
  // reserve: 1 s of waiting, then 100 ms to its first token.
  const std::vector<RecordedRequest> rows{request(kT0, "batch"), request(kT0, "batch"),
                                          request(kT0 + 500, "realtime")};
  const Replay r = replay(rows, policy, one_hour());
  const ClassOutcome& batch = predicted(r, "batch");
  const ClassOutcome& realtime = predicted(r, "realtime");
  EXPECT_EQ(batch.provisioned, 2u);
  EXPECT_EQ(batch.waited, 1u);
  EXPECT_NEAR(*batch.ttft_p95_seconds, 1.1, 1e-6);
  EXPECT_EQ(realtime.provisioned, 1u);
  EXPECT_EQ(realtime.waited, 0u);
  EXPECT_NEAR(*realtime.ttft_p95_seconds, 0.1, 1e-6);
  EXPECT_EQ(realtime.met, 1u);
}

TEST(Replay, AColdStartAfterIdleAddsItsP50AndBreaksTheRealtimeTarget) {
  const config::Config policy = load(policy_yaml("0ms"));
  // On the scale-to-zero endpoint: the first request finds it cold (never used), the second
  // (5 s later) warm, the third (60 s later, 55 s after the last answer) cold again. The
  // ledger's rows are all warm-fast, and two cold rows are too few to learn a cold start from:
  // the config's p50 (2 s) stands.
  std::vector<RecordedRequest> rows;
  for (const std::int64_t at : {kT0, kT0 + 5000, kT0 + 60000}) {
    RecordedRequest r = request(at, "realtime", "scale0", "bursty");
    r.ttft_ms = 200;
    r.duration_ms = 1100;
    r.finished_ms = at + 1100;
    rows.push_back(r);
  }
  const Replay r = replay(rows, policy, one_hour());
  const ClassOutcome& realtime = predicted(r, "realtime");
  EXPECT_EQ(realtime.judged, 3u);
  EXPECT_EQ(realtime.met, 1u);  // 2.2 s to the first token twice, against 800 ms
  EXPECT_NEAR(*realtime.ttft_p95_seconds, 2.2, 1e-6);
  EXPECT_NEAR(*realtime.ttft_p50_seconds, 2.2, 1e-6);
  const EndpointOutcome& scale0 = endpoint(r, "scale0");
  EXPECT_EQ(scale0.cold_starts, 2u);
  EXPECT_NEAR(scale0.model.cold_start_seconds, 2, 1e-12);
  EXPECT_EQ(scale0.model.cold_rows, 0u);
  EXPECT_NEAR(scale0.model.ttft_seconds, 0.2, 1e-12);  // the one warm row's
  // What actually happened: every answer within 800 ms.
  EXPECT_EQ(r.actual.classes.front().met, 3u);
  EXPECT_DOUBLE_EQ(r.actual.classes.front().attainment_percent(), 100);
}

TEST(Replay, EndpointsAreModelledFromTheirRowsAndTheRestKeepTheSeeds) {
  const config::Config policy = load(policy_yaml("0ms"));
  // The unit's rows: 300 ms to the first token, then 20 ms per token (a queue-delayed row in
  // the tail does not move the median). The cloud never appears.
  std::vector<RecordedRequest> rows;
  for (int i = 0; i < 5; ++i) {
    RecordedRequest r = request(kT0 + i * 10000, "standard");
    r.ttft_ms = i == 4 ? 5000 : 300;
    r.duration_ms = *r.ttft_ms + 90 * 20;
    r.finished_ms = r.started_ms + static_cast<std::int64_t>(r.duration_ms);
    rows.push_back(r);
  }
  const Replay r = replay(rows, policy, one_hour());
  const EndpointModel& gpu = endpoint(r, "gpu").model;
  EXPECT_NEAR(gpu.ttft_seconds, 0.3, 1e-12);
  EXPECT_NEAR(gpu.seconds_per_output_token, 0.02, 1e-12);
  EXPECT_EQ(gpu.ttft_rows, 5u);
  EXPECT_EQ(gpu.per_token_rows, 5u);
  EXPECT_EQ(gpu.slots, 2u);
  const EndpointModel& cloud = endpoint(r, "cloud").model;
  EXPECT_NEAR(cloud.ttft_seconds, 0.1, 1e-12);
  EXPECT_NEAR(cloud.seconds_per_output_token, 0.01, 1e-12);
  EXPECT_EQ(cloud.ttft_rows, 0u);
  // Replayed one at a time, each takes the modelled 0.3 s + 90 × 20 ms on the unit.
  EXPECT_NEAR(*predicted(r, "standard").ttft_p95_seconds, 0.3, 1e-6);
  EXPECT_NEAR(endpoint(r, "gpu").busy_slot_seconds, 5 * 2.1, 1e-6);
  EXPECT_NEAR(*endpoint(r, "gpu").utilization, 5 * 2.1 / (2 * 3600), 1e-9);
}

TEST(Replay, AWaitInTheGatewaysQueueIsNotTheEndpointsTimeToFirstToken) {
  const config::Config policy = load(policy_yaml("0ms"));
  // Batch rows that each waited in the gateway before the unit took them: 0.7 s, 1.2 s, ...,
  // 2.7 s to the first token, of which all but 200 ms was the recorded wait.
  std::vector<RecordedRequest> rows;
  for (int i = 0; i < 5; ++i) {
    RecordedRequest r = request(kT0 + i * 10000, "batch");
    r.queued_ms = 500.0 * (i + 1);
    r.ttft_ms = r.queued_ms + 200;
    r.duration_ms = *r.ttft_ms + 90 * 20;
    r.finished_ms = r.started_ms + static_cast<std::int64_t>(r.duration_ms);
    rows.push_back(r);
  }
  const Replay r = replay(rows, policy, one_hour());
  const EndpointModel& gpu = endpoint(r, "gpu").model;
  EXPECT_NEAR(gpu.ttft_seconds, 0.2, 1e-12);
  EXPECT_NEAR(gpu.seconds_per_output_token, 0.02, 1e-12);
  EXPECT_EQ(gpu.ttft_rows, 5u);
  // Replayed one at a time nobody waits: 0.2 s to the first token.
  EXPECT_NEAR(*predicted(r, "batch").ttft_p95_seconds, 0.2, 1e-6);
}

TEST(Replay, ThePeriodRunsFromTheFirstArrivalToTheLastAnswerUnlessGiven) {
  const config::Config policy = load(policy_yaml("0ms"));
  RecordedRequest last = request(kT0 + kHourMs / 2, "standard", "cloud");
  last.finished_ms = kT0 + kHourMs;  // a long answer ends the period
  const std::vector<RecordedRequest> rows{request(kT0, "standard"), last};
  const Replay r = replay(rows, policy);
  EXPECT_EQ(r.since_ms, kT0);
  EXPECT_EQ(r.until_ms, kT0 + kHourMs);
  EXPECT_DOUBLE_EQ(r.hours, 1);
  // Both fit on the unit in the replay; in the ledger one went to the cloud.
  EXPECT_NEAR(r.predicted.usd, 3.6, 1e-12);
  EXPECT_NEAR(r.actual.usd, 3.6 + kServerlessRequestUsd, 1e-12);
  EXPECT_EQ(r.actual_units_priced_by, "policy");
}

TEST(Replay, TheActualColumnPricesTheBaselinesUnitsAndLeavesOutUnknownAliases) {
  const config::Config policy = load(policy_yaml("0ms"));
  // The recorded run had two units of $1/h (one never served) and no cloud endpoint by
  // the policy's name.
  const config::Config baseline = load(R"(version: 1
endpoints:
  gpu: {kind: provisioned, base_url: "http://127.0.0.1:2/v1", hourly_usd: 1, capacity: {max_concurrency: 2}}
  gpu-b: {kind: provisioned, base_url: "http://127.0.0.1:4/v1", hourly_usd: 1, capacity: {max_concurrency: 2}}
models:
  llama: {targets: [gpu/llama, gpu-b/llama]}
ledger: {enabled: false}
)");
  RecordedRequest retired = request(kT0 + 1000, "standard", "old-api", "retired-alias");
  retired.provisioned = false;
  retired.cost = core::Money::from_usd(5);
  RecordedRequest late = request(kT0 + 2000, "standard", "cloud");
  late.late_answer = true;
  late.cost = core::Money::from_usd(0.5);
  const std::vector<RecordedRequest> rows{request(kT0, "standard"), retired, late};
  ReplayOptions options = one_hour();
  options.baseline = &baseline;
  const Replay r = replay(rows, policy, options);
  EXPECT_EQ(r.rows, 3u);
  EXPECT_EQ(r.replayed, 1u);
  EXPECT_EQ(r.unknown_alias, 1u);
  EXPECT_EQ(r.late_answers, 1u);
  EXPECT_EQ(r.actual_units_priced_by, "baseline");
  EXPECT_NEAR(r.actual.provisioned_usd, 2, 1e-12);
  EXPECT_NEAR(r.actual.serverless_usd, 0.5, 1e-12);  // the late answer was paid for
  EXPECT_NEAR(r.predicted.usd, 3.6, 1e-12);
}

TEST(Replay, LedgerRowsReadAsRequestsWithStreamsToldFromWholeAnswers) {
  metering::UsageRecord row;
  row.started_ms = kT0;
  row.finished_ms = kT0 + 1000;
  row.alias = "llama";
  row.endpoint = "gpu";
  row.endpoint_kind = "provisioned";
  row.slo_class = "batch";
  row.outcome = "success";
  row.input_tokens = 12;
  row.output_tokens = 34;
  row.ttft_ms = 100;
  row.duration_ms = 1000;
  RecordedRequest r = recorded(row);
  EXPECT_TRUE(r.provisioned);
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.usage.output, 34);
  EXPECT_TRUE(r.stream());
  // A whole answer: its first byte is its end, give or take the write.
  row.ttft_ms = 998;
  EXPECT_FALSE(recorded(row).stream());
  row.ttft_ms = -1;
  EXPECT_FALSE(recorded(row).ttft_ms.has_value());
  row.outcome = "abandoned";
  EXPECT_TRUE(recorded(row).late_answer);
}

}  // namespace
}  // namespace fulcrum::replay
