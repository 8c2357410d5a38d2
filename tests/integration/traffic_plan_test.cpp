// The plan follows the traffic (issue #19), from outside: a gateway started on a ledger whose
// last weeks hold traffic exports the units that traffic needs in the coming hour, and keeps a
// serverless endpoint with automatic prewarm warm in the hours the ledger says it is used,
// with no client request at all.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/stack.hpp"
#include "../support/temp_dir.hpp"
#include "fulcrum/metering/hour_profile.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::testing {
namespace {

using metering::HourProfile;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

metering::LedgerRow row(std::int64_t started_ms, std::string_view endpoint,
                        std::int64_t output_tokens) {
  metering::LedgerRow r;
  r.set_request_id("req-" + std::to_string(started_ms));
  r.started_ms = started_ms;
  r.finished_ms = started_ms + 1000;
  r.key_id = "anonymous";
  r.alias = endpoint == "cloud" ? "llama" : "cold-model";
  r.route = "default";
  r.slo_class = "standard";
  r.endpoint = endpoint;
  r.endpoint_kind = "serverless";
  r.upstream_model = "m";
  r.output_tokens = output_tokens;
  r.cost = core::Money::from_usd(static_cast<double>(output_tokens) * 1e-4);
  r.amortized_cost = r.cost;
  r.duration_ms = 1000;
  r.status = 200;
  r.outcome = "success";
  r.attempts = 1;
  return r;
}

// The coming hour of the week saw 4,000 output tokens two weeks ago and 10,000 last week
// (served by cloud at $0.0001 each); a unit of 3,600 an hour costs $0.15 an hour. Over the
// four weeks' same hour: 0 units $1.40, 1 unit $0.60 + $0.68, 2 units $1.20 + $0.28, 3 units
// $1.80: one. And "cold" served in the current hour of the week in three weeks of four.
TEST(TrafficPlan, AGatewayExportsTheUnitsTheComingHourNeedsAndPrewarmsWhereTrafficIsDue) {
  // The ledger is written for this hour and the gateway plans for the next: not across an hour's
  // end.
  const std::int64_t into_hour = now_ms() % HourProfile::kHourMs;
  if (into_hour > HourProfile::kHourMs - 20000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(HourProfile::kHourMs - into_hour + 1000));
  }
  TempDir dir("plan");
  const std::string ledger = dir.file("ledger.db");
  {
    auto store = metering::SqliteLedger::open(ledger);
    ASSERT_TRUE(store) << store.error();
    const std::int64_t now = now_ms();
    const std::int64_t hour = now / HourProfile::kHourMs * HourProfile::kHourMs;
    const std::int64_t week = HourProfile::kWeekMs;
    const std::int64_t next_hour = hour + HourProfile::kHourMs;
    ASSERT_TRUE(
        (*store)->append({row(next_hour - 2 * week + 60000, "cloud", 4000),
                          row(next_hour - week + 60000, "cloud", 10000), row(now - week, "cold", 5),
                          row(now - 2 * week, "cold", 5), row(now - 4 * week + 1, "cold", 5)}));
  }
  Stack stack(
      "endpoints: {cloud: {listen: 127.0.0.1:0}, cold: {listen: 127.0.0.1:0, cold_start: 100ms, "
      "cold_after_idle: 1s}}",
      R"(endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {m: {input: 0, output: 100}}
  gpu:
    kind: provisioned
    base_url: http://${closed}/v1
    hourly_usd: 0.15
    capacity: {output_tokens_per_second: 1, input_token_weight: 0}
  cold:
    kind: serverless
    base_url: http://${cold}/v1
    pricing: {m: {input: 0.1, output: 0.1}}
    cold_start: {after_idle: 2s, p50: 100ms, p95: 200ms}
    prewarm: {auto: true, every: 500ms}
models:
  llama: {targets: [gpu/m, cloud/m]}
  cold-model: {targets: [cold/m]}
ledger: {path: )" +
          ledger + "}\n");
  ASSERT_TRUE(eventually([&] {
    return stack.metric("fulcrum_provisioned_recommended_units", {{"endpoint", "gpu"}}).has_value();
  }));
  EXPECT_EQ(stack.metric("fulcrum_provisioned_recommended_units", {{"endpoint", "gpu"}}), 1);
  // No client has sent anything: the keep-warm requests are the plan's.
  ASSERT_TRUE(eventually([&] { return stack.sim_stats()["cold"]["requests"].get<int>() >= 2; }));
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 0);
  EXPECT_GE(stack.metric("fulcrum_prewarm_requests_total", {{"endpoint", "cold"}}).value_or(0), 2);
}

}  // namespace
}  // namespace fulcrum::testing
