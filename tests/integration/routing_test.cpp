// The routing policy end to end: a real gateway routing real requests across fulcrum-sim
// endpoints by marginal cost, capacity, headroom, SLO, cold starts, time windows and prompt
// complexity, with fallbacks, circuit breakers and the retry budget. No timing assertions:
// tests wait on conditions (in-flight gauges, sim counters) and order events with the sim's
// gates (hold: true, then release), never with sleeps or timing margins.
#include <gtest/gtest.h>

#include <ctime>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "../support/background.hpp"
#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;
using Headers = std::map<std::string, std::string>;

std::string chat(const std::string& model, int max_tokens, bool stream = false,
                 const std::string& prompt = "one two three") {
  return json{{"model", model},
              {"max_tokens", max_tokens},
              {"stream", stream},
              {"messages", {{{"role", "user"}, {"content", prompt}}}}}
      .dump();
}

// Runs `count` requests at once, each on its own connection; returns their responses.
std::vector<Response> concurrently(int count, const std::function<Response(HttpClient&, int)>& run,
                                   std::uint16_t port) {
  std::vector<Response> responses(count);
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client(port);
      responses[i] = run(client, i);
    });
  }
  for (auto& thread : threads) thread.join();
  return responses;
}

std::string hhmm(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[6];
  std::snprintf(text, sizeof text, "%02d:%02d", tm.tm_hour, tm.tm_min);
  return text;
}

int count_endpoint(const std::vector<Response>& responses, const std::string& endpoint) {
  return static_cast<int>(std::count_if(responses.begin(), responses.end(), [&](const Response& r) {
    return r.header("x-fulcrum-endpoint") == endpoint;
  }));
}

// A provisioned GPU listed after a serverless API under one alias.
std::string gateway(const std::string& gpu_extra, const std::string& rest = "") {
  return R"(endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
    latency: {ttft: 50ms, per_output_token: 5ms}
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 2.0
)" + gpu_extra +
         R"(
models:
  llama-8b: {targets: [cloud/gpt-4o-mini, gpu/llama]}
)" + rest;
}

TEST(Routing, ProvisionedCapacityIsUsedFirstAtZeroMarginalCost) {
  Stack stack("endpoints: {gpu: {listen: 127.0.0.1:0}, cloud: {listen: 127.0.0.1:0}}",
              gateway("    capacity: {max_concurrency: 4}"));
  HttpClient client(stack.port());
  double charged = 0;
  for (int i = 0; i < 5; ++i) {
    const Response res = client.post("/v1/chat/completions", chat("llama-8b", 5));
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(res.header("x-fulcrum-endpoint"), "gpu");
    EXPECT_EQ(res.header("x-fulcrum-route"), "default");
    EXPECT_EQ(res.header("x-fulcrum-reason"), "cheapest");
    // Routing saw no marginal cost; the request is charged its share of the hourly price.
    EXPECT_EQ(res.header("x-fulcrum-marginal-cost-usd"), "0");
    EXPECT_GT(std::stod(res.header("x-fulcrum-cost-usd")), 0);
    charged += std::stod(res.header("x-fulcrum-cost-usd"));
  }
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], 5);
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 0);
  EXPECT_EQ(stack.metric("fulcrum_routing_decisions_total",
                         {{"route", "default"}, {"endpoint", "gpu"}, {"reason", "cheapest"}}),
            5);
  EXPECT_NEAR(*stack.metric("fulcrum_cost_usd_total", {{"endpoint", "gpu"}}), charged, 1e-12);
  EXPECT_EQ(stack.metric("fulcrum_requests_total", {{"route", "default"},
                                                    {"slo_class", "standard"},
                                                    {"endpoint", "gpu"},
                                                    {"outcome", "success"}}),
            5);
}

TEST(Routing, BeyondMaxConcurrencyTheExcessSpillsToServerlessAndNothingFails) {
  // Each GPU request takes ~2 s, so all six overlap.
  Stack stack(
      "endpoints: {gpu: {listen: 127.0.0.1:0, tokens_per_second: 5}, cloud: {listen: "
      "127.0.0.1:0}}",
      gateway("    capacity: {max_concurrency: 2}"));
  const auto responses = concurrently(
      6,
      [](HttpClient& client, int) {
        return client.post("/v1/chat/completions", chat("llama-8b", 10));
      },
      stack.port());
  for (const Response& res : responses) {
    ASSERT_EQ(res.status, 200u) << res.body;
    if (res.header("x-fulcrum-endpoint") == "cloud") {
      EXPECT_EQ(res.header("x-fulcrum-reason"), "spill:capacity");
    }
  }
  EXPECT_EQ(count_endpoint(responses, "gpu"), 2);
  EXPECT_EQ(count_endpoint(responses, "cloud"), 4);
  EXPECT_EQ(stack.metric("fulcrum_spillover_total",
                         {{"from", "gpu"}, {"to", "cloud"}, {"reason", "capacity"}}),
            4);
}

TEST(Routing, HeadroomServesRealtimeWhileStandardSpills) {
  Stack stack(
      "endpoints: {gpu: {listen: 127.0.0.1:0, tokens_per_second: 4}, cloud: {listen: "
      "127.0.0.1:0}}",
      gateway("    capacity: {max_concurrency: 5}\n"
              "    headroom: {fraction: 0.25, reserved_for: [realtime]}"));
  // 80% busy: three standard requests (the general share of 5 × 0.75) and one realtime.
  std::vector<std::unique_ptr<Background>> busy;
  for (int i = 0; i < 3; ++i) {
    busy.push_back(std::make_unique<Background>(stack.port(), chat("llama-8b", 20)));
  }
  ASSERT_TRUE(eventually([&] {
    return stack.metric("fulcrum_endpoint_in_flight", {{"endpoint", "gpu"}}) == 3;
  }));
  busy.push_back(std::make_unique<Background>(stack.port(), chat("llama-8b", 20),
                                              Headers{{"x-fulcrum-priority", "realtime"}}));
  ASSERT_TRUE(eventually([&] {
    return stack.metric("fulcrum_endpoint_in_flight", {{"endpoint", "gpu"}}) == 4;
  }));

  HttpClient client(stack.port());
  const Response standard = client.post("/v1/chat/completions", chat("llama-8b", 3));
  ASSERT_EQ(standard.status, 200u) << standard.body;
  EXPECT_EQ(standard.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(standard.header("x-fulcrum-reason"), "spill:capacity");

  const Response realtime = client.post("/v1/chat/completions", chat("llama-8b", 3),
                                        {{"x-fulcrum-priority", "realtime"}});
  ASSERT_EQ(realtime.status, 200u) << realtime.body;
  EXPECT_EQ(realtime.header("x-fulcrum-endpoint"), "gpu");
  EXPECT_EQ(realtime.header("x-fulcrum-reason"), "headroom");
  for (auto& request : busy) EXPECT_EQ(request->response().header("x-fulcrum-endpoint"), "gpu");
}

TEST(Routing, AnUnknownPriorityClassIsAClientError) {
  Stack stack("endpoints: {gpu: {listen: 127.0.0.1:0}, cloud: {listen: 127.0.0.1:0}}",
              gateway("    capacity: {max_concurrency: 4}"));
  HttpClient client(stack.port());
  const Response res =
      client.post("/v1/chat/completions", chat("llama-8b", 3), {{"x-fulcrum-priority", "urgent"}});
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(json::parse(res.body)["error"]["param"], "x-fulcrum-priority");
  EXPECT_NE(res.body.find("realtime, standard, batch"), std::string::npos) << res.body;
}

TEST(Routing, AProvisionedEndpointWhoseQueueBreaksTheTtftTargetLosesToFasterServerless) {
  // The GPU's engine runs one request at a time, 1 s each: a second one queues behind it.
  Stack stack(
      "endpoints: {gpu: {listen: 127.0.0.1:0, max_concurrency: 1, tokens_per_second: 10}, "
      "cloud: {listen: 127.0.0.1:0}}",
      gateway("    capacity: {max_concurrency: 8}\n    latency: {ttft: 100ms}"));
  const Headers realtime{{"x-fulcrum-priority", "realtime"}};  // TTFT target 800 ms
  const auto first_two = concurrently(
      2,
      [&](HttpClient& client, int) {
        Response head = client.start("/v1/chat/completions", chat("llama-8b", 10, true));
        while (client.next_piece()) {
        }
        return head;
      },
      stack.port());
  EXPECT_EQ(count_endpoint(first_two, "gpu"), 2);  // both predicted fast: nothing learnt yet
  for (const Response& head : first_two) {
    EXPECT_EQ(head.header("x-fulcrum-reason"), "cheapest");  // decision headers on streams too
    EXPECT_EQ(head.header("x-fulcrum-route"), "default");
  }
  // The gateway learns from a stream once it has relayed its last byte, which the client may
  // read first.
  EXPECT_TRUE(eventually([&] {
    return stack
               .metric("fulcrum_endpoint_latency_estimate_seconds",
                       {{"endpoint", "gpu"}, {"signal", "ttft"}})
               .value_or(0) > 0.8;
  }));

  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("llama-8b", 3), realtime);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(res.header("x-fulcrum-reason"), "spill:slo");
  EXPECT_EQ(stack.metric("fulcrum_spillover_total",
                         {{"from", "gpu"}, {"to", "cloud"}, {"reason", "slo"}}),
            1);
}

TEST(Routing, AnOffPeakWindowSendsBatchTrafficToProvisionedAndElsewhereOutsideIt) {
  const std::time_t now = std::time(nullptr);
  const auto stack_with_window = [](const std::string& between) {
    return std::make_unique<Stack>(
        "endpoints: {gpu: {listen: 127.0.0.1:0}, cloud: {listen: 127.0.0.1:0}}",
        gateway("    capacity: {max_concurrency: 4}", R"(routes:
  - name: off-peak
    match: {model: llama-8b, headers: {x-workload: batch}, time: {tz: UTC, between: ")" +
                                                          between + R"("}}
    slo: batch
  - name: peak-batch
    match: {model: llama-8b, headers: {x-workload: batch}}
    slo: batch
    strategy: ordered
)"));
  };
  const Headers batch{{"x-workload", "batch"}};
  {
    // A window around now (wrapping midnight is fine).
    auto stack = stack_with_window(hhmm(now - 3600) + "-" + hhmm(now + 3600));
    HttpClient client(stack->port());
    const Response res = client.post("/v1/chat/completions", chat("llama-8b", 3), batch);
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(res.header("x-fulcrum-route"), "off-peak");
    EXPECT_EQ(res.header("x-fulcrum-endpoint"), "gpu");
  }
  {
    auto stack = stack_with_window(hhmm(now + 2 * 3600) + "-" + hhmm(now + 3 * 3600));
    HttpClient client(stack->port());
    const Response res = client.post("/v1/chat/completions", chat("llama-8b", 3), batch);
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(res.header("x-fulcrum-route"), "peak-batch");
    EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
    EXPECT_EQ(res.header("x-fulcrum-reason"), "ordered");
  }
}

constexpr const char* kColdSim = R"(endpoints:
  scale0: {listen: 127.0.0.1:0, cold_start: 1500ms, cold_after_idle: 30s}
  cloud: {listen: 127.0.0.1:0}
)";

std::string cold_gateway(const std::string& scale0_extra = "") {
  return R"(endpoints:
  scale0:
    kind: serverless
    base_url: http://${scale0}/v1
    pricing: {llama: {input: 0.05, output: 0.08}}
    cold_start: {after_idle: 30s, p50: 1500ms, p95: 2s}
    latency: {ttft: 50ms}
)" + scale0_extra +
         R"(
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
    latency: {ttft: 50ms}
models:
  cheap: {targets: [scale0/llama, cloud/gpt-4o-mini]}
)";
}

TEST(Routing, AColdScaleToZeroEndpointIsAvoidedForRealtimeWhileAWarmOneExists) {
  Stack stack(kColdSim, cold_gateway());
  HttpClient client(stack.port());
  const Headers realtime{{"x-fulcrum-priority", "realtime"}};
  const Response avoided = client.post("/v1/chat/completions", chat("cheap", 3), realtime);
  ASSERT_EQ(avoided.status, 200u) << avoided.body;
  EXPECT_EQ(avoided.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(avoided.header("x-fulcrum-reason"), "cold-avoided");

  // Batch tolerates the cold start and wakes the endpoint up...
  const Response woke =
      client.post("/v1/chat/completions", chat("cheap", 3), {{"x-fulcrum-priority", "batch"}});
  ASSERT_EQ(woke.status, 200u) << woke.body;
  EXPECT_EQ(woke.header("x-fulcrum-endpoint"), "scale0");
  EXPECT_EQ(stack.metric("fulcrum_cold_starts_total", {{"endpoint", "scale0"}}), 1);
  EXPECT_EQ(stack.sim_stats()["scale0"]["cold_starts"], 1);

  // ...after which realtime traffic takes the cheaper endpoint.
  const Response warm = client.post("/v1/chat/completions", chat("cheap", 3), realtime);
  EXPECT_EQ(warm.header("x-fulcrum-endpoint"), "scale0");
  EXPECT_EQ(warm.header("x-fulcrum-reason"), "cheapest");
  EXPECT_EQ(stack.metric("fulcrum_spillover_total",
                         {{"from", "scale0"}, {"to", "cloud"}, {"reason", "cold"}}),
            1);
}

TEST(Routing, PrewarmRequestsKeepAScaleToZeroEndpointWarmInsideTheirWindow) {
  Stack stack(kColdSim,
              cold_gateway("    prewarm: [{cron: \"* * * * *\", for: 1h, every: 300ms}]"));
  ASSERT_TRUE(eventually([&] { return stack.sim_stats()["scale0"]["requests"] >= 3; }));
  EXPECT_GE(*stack.metric("fulcrum_prewarm_requests_total", {{"endpoint", "scale0"}}), 3);
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 0);

  HttpClient client(stack.port());
  const Response res =
      client.post("/v1/chat/completions", chat("cheap", 3), {{"x-fulcrum-priority", "realtime"}});
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "scale0");
  EXPECT_EQ(res.header("x-fulcrum-reason"), "cheapest");
  EXPECT_EQ(stack.sim_stats()["scale0"]["cold_starts"], 1);  // only the first ping was cold
}

// Pings run side by side, each within its own short timeout: an endpoint that takes 30 s to
// answer its keep-warm request holds up only its own, never another endpoint's.
TEST(Routing, ASlowEndpointsPrewarmNeverDelaysAnothers) {
  Stack stack(R"(endpoints:
  slow: {listen: 127.0.0.1:0, hold: true}
  fast: {listen: 127.0.0.1:0}
)",
              R"(endpoints:
  slow:
    kind: serverless
    base_url: http://${slow}/v1
    pricing: {llama: {input: 0.05, output: 0.08}}
    prewarm: [{cron: "* * * * *", for: 1h, every: 200ms, timeout: 1s}]
  fast:
    kind: serverless
    base_url: http://${fast}/v1
    pricing: {llama: {input: 0.05, output: 0.08}}
    prewarm: [{cron: "* * * * *", for: 1h, every: 200ms}]
models:
  cheap: {targets: [slow/llama, fast/llama]}
)");
  ASSERT_TRUE(eventually([&] { return stack.sim_stats()["fast"]["requests"] >= 5; },
                         std::chrono::seconds(5)));
  // The slow one's pings (held, never answered) are cut at their 1 s timeout and sent again.
  EXPECT_TRUE(eventually([&] { return stack.sim_stats()["slow"]["requests"] >= 2; },
                         std::chrono::seconds(5)));
  stack.sim_release("slow");
}

TEST(Routing, TheClassifierSendsSimplePromptsToTheCheapTierAndHardOnesToTheStrongTier) {
  Stack stack(
      "endpoints: {small: {listen: 127.0.0.1:0}, medium: {listen: 127.0.0.1:0}, big: {listen: "
      "127.0.0.1:0}}",
      R"(endpoints:
  small: {kind: serverless, base_url: "http://${small}/v1", pricing: {s: {input: 0.05, output: 0.1}}}
  medium: {kind: serverless, base_url: "http://${medium}/v1", pricing: {m: {input: 0.5, output: 1}}}
  big: {kind: serverless, base_url: "http://${big}/v1", pricing: {b: {input: 5, output: 15}}}
models:
  cheap: {targets: [small/s]}
  mid: {targets: [medium/m]}
  strong: {targets: [big/b]}
  auto: {classify: complexity, tiers: {simple: cheap, medium: mid, complex: strong}}
)");
  HttpClient client(stack.port());
  const Response simple =
      client.post("/v1/chat/completions", chat("auto", 3, false, "what is 2+2"));
  ASSERT_EQ(simple.status, 200u) << simple.body;
  EXPECT_EQ(simple.header("x-fulcrum-endpoint"), "small");
  EXPECT_EQ(simple.header("x-fulcrum-reason"), "classifier:simple, cheapest");

  std::string hard = "Please go step by step: refactor the code below, prove it stays correct ";
  hard += "and explain why. ```python\ndef f(xs):\n    return sorted(xs)[0]\n``` ";
  for (int i = 0; i < 50; ++i) hard += "Consider concurrency, memory use and failure modes. ";
  const Response complex = client.post("/v1/chat/completions", chat("auto", 3, false, hard));
  ASSERT_EQ(complex.status, 200u) << complex.body;
  EXPECT_EQ(complex.header("x-fulcrum-endpoint"), "big");
  EXPECT_EQ(complex.header("x-fulcrum-reason"), "classifier:complex, cheapest");
  EXPECT_EQ(stack.sim_stats()["medium"]["requests"], 0);
}

TEST(Routing, FailingTargetFallsBackThenItsCircuitOpensAndAProbeClosesItAfterTheCooldown) {
  Stack stack(
      "endpoints: {gpu: {listen: 127.0.0.1:0, fail_first: 3, fail_first_status: 503}, cloud: "
      "{listen: 127.0.0.1:0}}",
      gateway("    capacity: {max_concurrency: 4}\n"
              "    circuit_breaker: {failures: 3, cooldown: 1s}"));
  HttpClient client(stack.port());
  for (int i = 0; i < 3; ++i) {
    const Response res = client.post("/v1/chat/completions", chat("llama-8b", 3));
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
    EXPECT_EQ(res.header("x-fulcrum-reason"), "fallback:503");
  }
  EXPECT_EQ(stack.metric("fulcrum_circuit_breaker_open", {{"endpoint", "gpu"}}), 1);

  // Open: skipped without a connection attempt.
  const Response skipped = client.post("/v1/chat/completions", chat("llama-8b", 3));
  EXPECT_EQ(skipped.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(skipped.header("x-fulcrum-reason"), "spill:circuit-open");
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], 3);

  // After the cooldown one probe goes through; the GPU has recovered, so the circuit closes.
  ASSERT_TRUE(eventually([&] {
    return client.post("/v1/chat/completions", chat("llama-8b", 3)).header("x-fulcrum-endpoint") ==
           "gpu";
  }));
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], 4);
  EXPECT_EQ(stack.metric("fulcrum_circuit_breaker_open", {{"endpoint", "gpu"}}), 0);
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama-8b", 3)).header("x-fulcrum-reason"),
            "cheapest");
}

TEST(Routing, AProvisioned429SpillsWithoutCountingAsAFailureOrARetry) {
  // No retry budget at all: a spill from a full provisioned endpoint is not a retry.
  Stack stack(
      "endpoints: {gpu: {listen: 127.0.0.1:0, fail_status: 429}, cloud: {listen: 127.0.0.1:0}}",
      gateway("    capacity: {max_concurrency: 4}\n    on_429: spill\n"
              "    circuit_breaker: {failures: 2, cooldown: 60s}",
              "retry_budget: {ratio: 0, min_per_second: 0}\n"));
  HttpClient client(stack.port());
  for (int i = 0; i < 4; ++i) {
    const Response res = client.post("/v1/chat/completions", chat("llama-8b", 3));
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
    EXPECT_EQ(res.header("x-fulcrum-reason"), "spill:429");
  }
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], 4);  // never skipped: the circuit stayed shut
  EXPECT_EQ(stack.metric("fulcrum_circuit_breaker_open", {{"endpoint", "gpu"}}), 0);
  EXPECT_EQ(stack.metric("fulcrum_spillover_total",
                         {{"from", "gpu"}, {"to", "cloud"}, {"reason", "429"}}),
            4);
  EXPECT_EQ(stack.metric("fulcrum_retry_budget_exhausted_total", {}), 0);
}

TEST(Routing, RetriesHonourRetryAfterOnTheSameTarget) {
  Stack stack("endpoints: {cloud: {listen: 127.0.0.1:0, rate_429: 0.5, retry_after: 1}}",
              R"(endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
models:
  mini: {targets: [cloud/gpt-4o-mini]}
routes:
  - name: patient
    match: {model: mini}
    retries: {max: 2, on: [429], max_retry_after: 2s}
)");
  HttpClient client(stack.port());
  ASSERT_EQ(client.post("/v1/chat/completions", chat("mini", 3)).status, 200u);
  // The sim now answers 429 with Retry-After: 1, then serves the retry.
  const Response res = client.post("/v1/chat/completions", chat("mini", 3));
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-route"), "patient");
  EXPECT_EQ(res.header("x-fulcrum-reason"), "retry:429");
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 3);
}

TEST(Routing, ARoutesTimeoutsOverrideItsEndpoints) {
  Stack stack("endpoints: {gpu: {listen: 127.0.0.1:0, hold: true}, cloud: {listen: 127.0.0.1:0}}",
              gateway("    capacity: {max_concurrency: 4}\n"
                      "    timeouts: {first_byte: 30s}",
                      R"(routes:
  - name: impatient
    match: {headers: {x-impatient: ["yes"]}}
    timeouts: {first_byte: 200ms}
)"));
  HttpClient client(stack.port());
  const Response res =
      client.post("/v1/chat/completions", chat("llama-8b", 3, true), {{"x-impatient", "yes"}});
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-route"), "impatient");
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(res.header("x-fulcrum-reason"), "fallback:timeout");
  EXPECT_EQ(
      stack.metric("fulcrum_routing_decisions_total",
                   {{"route", "impatient"}, {"endpoint", "cloud"}, {"reason", "fallback:timeout"}}),
      1);
  EXPECT_EQ(stack.sim_release("gpu"), 1);
}

std::string failing_trio(const std::string& breaker) {
  return R"(endpoints:
  a: {kind: serverless, base_url: "http://${a}/v1", pricing: {m: {input: 1, output: 1}},
      circuit_breaker: )" +
         breaker + R"(}
  b: {kind: serverless, base_url: "http://${b}/v1", pricing: {m: {input: 2, output: 2}},
      circuit_breaker: )" +
         breaker + R"(}
  c: {kind: serverless, base_url: "http://${c}/v1", pricing: {m: {input: 3, output: 3}},
      circuit_breaker: )" +
         breaker + R"(}
models:
  m: {targets: [a/m, b/m, c/m]}
)";
}

int attempts_seen(const Stack& stack) {
  const json stats = stack.sim_stats();
  return stats["a"]["requests"].get<int>() + stats["b"]["requests"].get<int>() +
         stats["c"]["requests"].get<int>();
}

// Until the breakers open, a storm is held to 2x: each request's first attempt and its first
// move to another target (which the budget counts but may not refuse); every later move is
// refused, since the first moves alone pass 20% of the window's requests.
TEST(Routing, UntilTheBreakersOpenAStormIsHeldToTwiceItsRequests) {
  // Every target fails, each at its gate: all requests are counted before any of them moves
  // on, and all have moved to b before b answers any.
  const std::string failing = "{listen: 127.0.0.1:0, fail_status: 503, hold: true}";
  Stack stack("endpoints: {a: " + failing + ", b: " + failing + ", c: " + failing + "}",
              failing_trio("{failures: 1000}"));
  constexpr int kRequests = 100;
  std::vector<Response> responses;
  std::thread storm([&] {
    responses = concurrently(
        kRequests,
        [](HttpClient& client, int) { return client.post("/v1/chat/completions", chat("m", 3)); },
        stack.port());
  });
  ASSERT_TRUE(eventually([&] { return stack.sim_held("a") == kRequests; }));
  stack.sim_release("a");
  ASSERT_TRUE(eventually([&] { return stack.sim_held("b") == kRequests; }));
  stack.sim_release("b");
  storm.join();
  for (const Response& res : responses) EXPECT_EQ(res.status, 502u) << res.body;
  // Without a budget: 300. 100 first attempts, 100 first moves, no third attempt.
  EXPECT_EQ(attempts_seen(stack), 2 * kRequests);
  EXPECT_EQ(stack.metric("fulcrum_retry_budget_exhausted_total", {}), kRequests);
  EXPECT_EQ(stack.metric("fulcrum_fallbacks_total", {{"from", "a"}, {"to", "b"}}), kRequests);
  EXPECT_FALSE(stack.metric("fulcrum_fallbacks_total", {{"from", "b"}, {"to", "c"}}));
  EXPECT_NE(responses[0].body.find("c: not tried: retry budget exhausted"), std::string::npos)
      << responses[0].body;
}

// Once the breakers are open, a storm costs the upstreams nothing more than their probes.
TEST(Routing, OnceTheBreakersOpenAStormAddsNoAttempts) {
  const std::string failing = "{listen: 127.0.0.1:0, fail_status: 503}";
  Stack stack("endpoints: {a: " + failing + ", b: " + failing + ", c: " + failing + "}",
              failing_trio("{failures: 2, cooldown: 60s}"));
  HttpClient first(stack.port());
  // Sequential requests until every circuit is open: a, then b as the first moves.
  for (int i = 0; i < 10; ++i) first.post("/v1/chat/completions", chat("m", 3));
  for (const char* endpoint : {"a", "b", "c"}) {
    ASSERT_EQ(stack.metric("fulcrum_circuit_breaker_open", {{"endpoint", endpoint}}), 1)
        << endpoint;
  }
  const int before = attempts_seen(stack);
  EXPECT_LE(before, 2 * 10);
  constexpr int kRequests = 100;
  const auto responses = concurrently(
      kRequests,
      [](HttpClient& client, int) { return client.post("/v1/chat/completions", chat("m", 3)); },
      stack.port());
  for (const Response& res : responses) EXPECT_EQ(res.status, 503u) << res.body;
  // Within (1 + 0.2) x the storm's requests, as the bound says; with every circuit open for
  // its cooldown, in fact none.
  EXPECT_LE(attempts_seen(stack) - before, kRequests * 12 / 10);
  EXPECT_EQ(attempts_seen(stack), before);
}

// A target that answers 429 every time, with same-target retries allowed: the retries spend
// the budget and lose first; each request's move to the healthy target is never refused, and
// after `failures` 429s in a row the target is ejected for its cooldown like a failing one.
TEST(Routing, APersistently429ingTargetNeverStarvesTheFallbackAndIsEjected) {
  Stack stack(
      "endpoints: {busy: {listen: 127.0.0.1:0, rate_429: 1.0}, healthy: {listen: 127.0.0.1:0}}",
      R"(endpoints:
  busy: {kind: serverless, base_url: "http://${busy}/v1", pricing: {m: {input: 1, output: 1}},
         circuit_breaker: {failures: 5, cooldown: 60s}}
  healthy: {kind: serverless, base_url: "http://${healthy}/v1", pricing: {m: {input: 2, output: 2}}}
models:
  m: {targets: [busy/m, healthy/m]}
routes:
  - name: patient
    match: {model: m}
    retries: {max: 2, backoff: {base: 10ms}}
)");
  HttpClient client(stack.port());
  for (int i = 0; i < 6; ++i) {
    const Response res = client.post("/v1/chat/completions", chat("m", 3, true));
    ASSERT_EQ(res.status, 200u) << i << ": " << res.body;
    EXPECT_EQ(res.header("x-fulcrum-endpoint"), "healthy") << i;
  }
  // The fifth 429 in a row opens the circuit: request 1 tries busy 3 times (the first and two
  // retries), request 2 twice (its circuit opens), the rest go straight to healthy.
  EXPECT_EQ(stack.metric("fulcrum_circuit_breaker_open", {{"endpoint", "busy"}}), 1);
  EXPECT_EQ(stack.sim_stats()["busy"]["requests"], 5);
  // Fallbacks that happened, not planned ones: requests 1 and 2.
  EXPECT_EQ(stack.metric("fulcrum_fallbacks_total", {{"from", "busy"}, {"to", "healthy"}}), 2);
  EXPECT_EQ(stack.sim_stats()["healthy"]["requests"], 6);
}

// The breaker opens between two retries of the same target; the next target serves: the
// reason says what happened (a fallback), not what was planned (a retry).
TEST(Routing, AReasonSaysFallbackWhenTheBreakerOpenedBetweenRetries) {
  Stack stack("endpoints: {a: {listen: 127.0.0.1:0, fail_status: 503}, b: {listen: 127.0.0.1:0}}",
              R"(endpoints:
  a: {kind: serverless, base_url: "http://${a}/v1", pricing: {m: {input: 1, output: 1}},
      circuit_breaker: {failures: 1, cooldown: 60s}}
  b: {kind: serverless, base_url: "http://${b}/v1", pricing: {m: {input: 2, output: 2}}}
models:
  m: {targets: [a/m, b/m]}
routes:
  - name: patient
    match: {model: m}
    retries: {max: 3, backoff: {base: 10ms}}
)");
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("m", 3));
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "b");
  EXPECT_EQ(res.header("x-fulcrum-reason"), "fallback:503");
  EXPECT_EQ(stack.sim_stats()["a"]["requests"], 1);  // its circuit opened on the first 503
  EXPECT_EQ(stack.metric("fulcrum_routing_decisions_total",
                         {{"route", "patient"}, {"endpoint", "b"}, {"reason", "fallback:503"}}),
            1);
}

}  // namespace
}  // namespace fulcrum::testing
