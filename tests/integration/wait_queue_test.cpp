// The gateway's wait for paid-for capacity (issue #19): a request of a class with slack waits
// in Fulcrum for a slot of its own share on a full provisioned endpoint instead of spilling,
// never takes a slot headroom keeps for another class, and spills when its wait runs out.
// Events are ordered with the sim's gate (hold: true, then release) and the gateway's own
// gauges, never with sleeps.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../support/background.hpp"
#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;
using Headers = std::map<std::string, std::string>;

std::string chat(int max_tokens, bool stream = false) {
  return json{{"model", "llama-8b"},
              {"max_tokens", max_tokens},
              {"stream", stream},
              {"messages", {{{"role", "user"}, {"content", "one two three"}}}}}
      .dump();
}

// Two slots on the GPU, the second kept for realtime; batch may wait `batch_wait` for a slot.
std::string gateway(const std::string& batch_wait) {
  return R"(slo_classes:
  realtime: {priority: 100, ttft: 10s, e2e: 60s, max_queue_wait: 0ms}
  standard: {priority: 50, ttft: 2s, e2e: 60s, max_queue_wait: 0ms}
  batch: {priority: 10, ttft: 60s, e2e: 600s, max_queue_wait: )" +
         batch_wait + R"(}
endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
    latency: {ttft: 50ms, per_output_token: 5ms}
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 2}
    headroom: {fraction: 0.5, reserved_for: [realtime]}
    latency: {ttft: 50ms, per_output_token: 5ms}
models:
  llama-8b: {targets: [cloud/gpt-4o-mini, gpu/llama]}
)";
}

const Headers kBatch{{"x-fulcrum-priority", "batch"}};
const Headers kRealtime{{"x-fulcrum-priority", "realtime"}};

double waiting(Stack& stack, const std::string& slo_class) {
  return stack.metric("fulcrum_queue_waiting", {{"endpoint", "gpu"}, {"slo_class", slo_class}})
      .value_or(0);
}

TEST(WaitQueue, BatchWaitsForItsShareWhileRealtimeKeepsHeadroomAndStandardSpills) {
  Stack stack("endpoints: {gpu: {listen: 127.0.0.1:0, hold: true}, cloud: {listen: 127.0.0.1:0}}",
              gateway("30s"));
  // The general share (1 slot) taken by a batch request held at the GPU.
  Background first(stack.port(), chat(5), kBatch);
  ASSERT_TRUE(eventually([&] { return stack.sim_held("gpu") == 1; }));
  // A second batch request finds its share full: it waits in the gateway, not at the GPU.
  Background second(stack.port(), chat(5, true), kBatch);
  ASSERT_TRUE(eventually([&] { return waiting(stack, "batch") == 1; }));
  EXPECT_EQ(stack.sim_held("gpu"), 1);
  // The reserved slot is still free, and realtime takes it past the waiting batch request.
  Background realtime(stack.port(), chat(5), kRealtime);
  ASSERT_TRUE(eventually([&] { return stack.sim_held("gpu") == 2; }));
  EXPECT_EQ(waiting(stack, "batch"), 1);
  // Standard may not wait (max_queue_wait 0): it spills at once.
  HttpClient client(stack.port());
  const Response standard = client.post("/v1/chat/completions", chat(3));
  ASSERT_EQ(standard.status, 200u) << standard.body;
  EXPECT_EQ(standard.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(standard.header("x-fulcrum-reason"), "spill:capacity");

  // The two held requests finish; the batch slot they free goes to the waiting one.
  EXPECT_EQ(stack.sim_release("gpu"), 2);
  ASSERT_TRUE(eventually([&] { return stack.sim_held("gpu") == 1; }));
  EXPECT_EQ(waiting(stack, "batch"), 0);
  EXPECT_EQ(stack.sim_release("gpu"), 1);
  for (Background* request : {&first, &realtime}) {
    ASSERT_EQ(request->response().status, 200u) << request->response().body;
    EXPECT_EQ(request->response().header("x-fulcrum-endpoint"), "gpu");
  }
  EXPECT_EQ(realtime.response().header("x-fulcrum-reason"), "headroom");
  const Response& waited = second.response();
  ASSERT_EQ(waited.status, 200u) << waited.body;
  EXPECT_EQ(waited.header("x-fulcrum-endpoint"), "gpu");
  EXPECT_EQ(waited.header("x-fulcrum-reason"), "queued");
  EXPECT_NE(waited.body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(stack.metric("fulcrum_queue_outcomes_total",
                         {{"endpoint", "gpu"}, {"slo_class", "batch"}, {"outcome", "served"}}),
            1);
  EXPECT_EQ(stack.metric("fulcrum_queue_wait_seconds_count",
                         {{"endpoint", "gpu"}, {"slo_class", "batch"}}),
            1);
  EXPECT_EQ(stack.metric("fulcrum_spillover_total",
                         {{"from", "gpu"}, {"to", "cloud"}, {"reason", "capacity"}}),
            1);  // the standard request only
}

TEST(WaitQueue, AStreamWhoseWaitRunsOutSpillsWithNothingSentBefore) {
  Stack stack("endpoints: {gpu: {listen: 127.0.0.1:0, hold: true}, cloud: {listen: 127.0.0.1:0}}",
              gateway("2s"));
  Background first(stack.port(), chat(5), kBatch);
  ASSERT_TRUE(eventually([&] { return stack.sim_held("gpu") == 1; }));
  // The GPU's batch share stays taken: after its two seconds in the queue the stream goes to the
  // serverless endpoint, whole, from its first byte.
  HttpClient client(stack.port());
  const Response spilled = client.post("/v1/chat/completions", chat(5, true), kBatch);
  ASSERT_EQ(spilled.status, 200u) << spilled.body;
  EXPECT_EQ(spilled.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(spilled.header("x-fulcrum-reason"), "spill:capacity");
  EXPECT_EQ(spilled.body.rfind("data: ", 0), 0u) << spilled.body;
  EXPECT_NE(spilled.body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(stack.metric("fulcrum_queue_outcomes_total",
                         {{"endpoint", "gpu"}, {"slo_class", "batch"}, {"outcome", "spilled"}}),
            1);
  EXPECT_EQ(waiting(stack, "batch"), 0);
  EXPECT_EQ(stack.sim_release("gpu"), 1);
  EXPECT_EQ(first.response().status, 200u);

  // The ledger keeps the wait apart from the time to first byte it is part of: the replay
  // learns the cloud's own speed from the rest. The request that never waited shows 0.
  ASSERT_TRUE(eventually([&] { return ledger_rows(stack.ledger_path()).size() == 2; }));
  for (const json& row : ledger_rows(stack.ledger_path())) {
    if (row["endpoint"] == "cloud") {
      EXPECT_GE(row["queued_ms"].get<double>(), 1900) << row;  // from joining, after a try
      EXPECT_LT(row["queued_ms"].get<double>(), 2500) << row;
      EXPECT_GE(row["ttft_ms"].get<double>(), row["queued_ms"].get<double>()) << row;
    } else {
      EXPECT_EQ(row["queued_ms"].get<double>(), 0) << row;
    }
  }
}

// Spillover means leaving paid-for capacity: a request placed on a second unit because the
// first was full is a move between units, counted apart, and fires no saturation alert.
TEST(WaitQueue, AMoveToAnotherUnitIsNotASpillover) {
  Stack stack(
      "endpoints: {gpu-a: {listen: 127.0.0.1:0, hold: true}, gpu-b: {listen: 127.0.0.1:0}, "
      "cloud: {listen: 127.0.0.1:0}}",
      R"(endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
  gpu-a:
    kind: provisioned
    base_url: http://${gpu-a}/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 1}
  gpu-b:
    kind: provisioned
    base_url: http://${gpu-b}/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 1}
models:
  llama-8b: {targets: [gpu-a/llama, gpu-b/llama, cloud/gpt-4o-mini]}
)");
  Background first(stack.port(), chat(5));
  ASSERT_TRUE(eventually([&] { return stack.sim_held("gpu-a") == 1; }));
  HttpClient client(stack.port());
  const Response moved = client.post("/v1/chat/completions", chat(3));
  ASSERT_EQ(moved.status, 200u) << moved.body;
  EXPECT_EQ(moved.header("x-fulcrum-endpoint"), "gpu-b");
  EXPECT_EQ(moved.header("x-fulcrum-reason"), "spill:capacity");
  EXPECT_EQ(stack.metric("fulcrum_unit_moves_total",
                         {{"from", "gpu-a"}, {"to", "gpu-b"}, {"reason", "capacity"}}),
            1);
  EXPECT_EQ(stack
                .metric("fulcrum_spillover_total",
                        {{"from", "gpu-a"}, {"to", "gpu-b"}, {"reason", "capacity"}})
                .value_or(0),
            0);
  EXPECT_EQ(stack.sim_release("gpu-a"), 1);
  EXPECT_EQ(first.response().status, 200u);
}

}  // namespace
}  // namespace fulcrum::testing
