// The load a provisioned endpoint's engine reports on its /metrics (endpoints.*.load), end to
// end: fulcrum-sim plays vLLM, SGLang or TGI, other clients' requests are injected into its
// page, and the gateway's routing follows what the engine says: busy with others' traffic or
// out of KV cache, requests spill; a scrape that stops answering is not believed after
// stale_after, and the gateway goes by its own counts again, visibly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

std::string chat() {
  return json{{"model", "m"},
              {"max_tokens", 5},
              {"messages", {{{"role", "user"}, {"content", "one two three"}}}}}
      .dump();
}

std::string sim(const std::string& format) {
  return "endpoints: {gpu: {listen: 127.0.0.1:0, max_concurrency: 4, engine_metrics: " + format +
         "}, cloud: {listen: 127.0.0.1:0}}";
}

std::string gateway(const std::string& format) {
  return R"(endpoints:
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 4}
    load: {metrics_url: http://${gpu}/metrics, format: )" +
         format + R"(, interval: 50ms, stale_after: 600ms}
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {m: {input: 1, output: 2}}
models:
  m: {targets: [gpu/m, cloud/m]}
)";
}

// Other clients of the GPU, as the engine reports them.
void inject(const Stack& stack, const json& load) {
  HttpClient client(stack.sim_port("gpu"));
  const Response r = client.post("/sim/engine_load", load.dump());
  ASSERT_EQ(r.status, 200u) << r.body;
}

// Realtime requests: their class may not queue, so a full GPU spills them at once. (A class
// that may queue waits at the engine while its predicted wait allows: router unit tests.)
std::string served_by(const Stack& stack) {
  HttpClient client(stack.port());
  const Response r =
      client.post("/v1/chat/completions", chat(), {{"x-fulcrum-priority", "realtime"}});
  EXPECT_EQ(r.status, 200u) << r.body;
  return r.header("x-fulcrum-endpoint") + " " + r.header("x-fulcrum-reason");
}

std::optional<double> measure(const Stack& stack, const std::string& what) {
  return stack.metric("fulcrum_engine_load", {{"endpoint", "gpu"}, {"measure", what}});
}

class EngineLoad : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineLoad, OthersTrafficOnTheGpuSpillsRequestsAndAStaleReportIsNotBelieved) {
  Stack stack(sim(GetParam()), gateway(GetParam()));
  // Idle: the GPU serves, and the report is fresh.
  ASSERT_TRUE(eventually([&] {
    return stack.metric("fulcrum_engine_load_stale", {{"endpoint", "gpu"}}) == 0;
  }));
  EXPECT_EQ(served_by(stack), "gpu cheapest");

  // Other clients run 3 and queue 2 on it: with Fulcrum's 4 slots, none is free.
  inject(stack, {{"running", 3}, {"waiting", 2}});
  ASSERT_TRUE(eventually([&] { return measure(stack, "waiting") == 2; }));
  EXPECT_EQ(measure(stack, "running"), 3);
  EXPECT_EQ(served_by(stack), "cloud spill:capacity");

  // They leave: the GPU takes requests again.
  inject(stack, json::object());
  ASSERT_TRUE(eventually([&] { return measure(stack, "waiting") == 0; }));
  EXPECT_EQ(served_by(stack), "gpu cheapest");

  // The engine stops answering while reporting the GPU full: after stale_after the report is
  // not believed, the gateway says so, and its own count (nothing in flight) decides.
  inject(stack, {{"running", 3}, {"waiting", 2}});
  ASSERT_TRUE(eventually([&] { return measure(stack, "waiting") == 2; }));
  EXPECT_EQ(served_by(stack), "cloud spill:capacity");
  inject(stack, {{"running", 3}, {"waiting", 2}, {"fail", true}});
  ASSERT_TRUE(eventually([&] {
    return stack.metric("fulcrum_engine_load_stale", {{"endpoint", "gpu"}}) == 1;
  }));
  EXPECT_EQ(served_by(stack), "gpu cheapest");
  const std::vector<std::string> log = stack.gateway_lines();
  EXPECT_TRUE(std::any_of(log.begin(), log.end(), [](const std::string& line) {
    return line.find("engine_load_scrape_failed endpoint=gpu") != std::string::npos;
  }));

  // Answering again, it is believed again.
  inject(stack, json::object());
  ASSERT_TRUE(eventually([&] {
    return stack.metric("fulcrum_engine_load_stale", {{"endpoint", "gpu"}}) == 0;
  }));
}

INSTANTIATE_TEST_SUITE_P(Formats, EngineLoad, ::testing::Values("vllm", "sglang", "tgi"));

TEST(EngineLoadKv, AnEngineOutOfKvCacheTakesNoNewRequest) {
  Stack stack(sim("vllm"), gateway("vllm"));
  inject(stack, {{"kv_cache_usage", 0.97}});
  ASSERT_TRUE(eventually([&] { return measure(stack, "kv_cache_usage") == 0.97; }));
  EXPECT_EQ(measure(stack, "running"), 0);  // no one else runs there: only the cache is full
  EXPECT_EQ(served_by(stack), "cloud spill:capacity");
  inject(stack, {{"kv_cache_usage", 0.5}});
  ASSERT_TRUE(eventually([&] { return measure(stack, "kv_cache_usage") == 0.5; }));
  EXPECT_EQ(served_by(stack), "gpu cheapest");
}

}  // namespace
}  // namespace fulcrum::testing
