// The proxy in process: real upstreams (fulcrum-sim on a thread), the client side on Beast's
// test stream, the clocks advanced by the test instead of waited for.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fulcrum/core/clock.hpp"
#include "in_process.hpp"

namespace fulcrum::testing {
namespace {

using namespace std::chrono_literals;

double requests_total(net::Runtime& runtime) {
  double total = 0;
  std::istringstream lines(runtime.metrics().scrape());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("fulcrum_requests_total{", 0) == 0) {
      total += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return total;
}

std::string header(const std::string& response, const std::string& name) {
  const auto at = response.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const auto start = at + name.size() + 4;
  return response.substr(start, response.find("\r\n", start) - start);
}

// A streamed answer whose client fails at each of its reads and writes in turn: each time the
// request is metered exactly once, and it gives back its budget money and capacity slot.
TEST(Proxy, AClientFailingAtEveryIoPointLeavesNothingHeldAndIsMeteredOnce) {
  InProcessGateway gateway("endpoints: {gpu: {listen: 127.0.0.1:0}}", R"(endpoints:
  gpu: {kind: provisioned, base_url: "http://${gpu}/v1", hourly_usd: 2,
        capacity: {max_concurrency: 4}}
models:
  llama: {targets: [gpu/llama]}
budgets:
  - {name: all, hard_usd: 100}
)");
  std::size_t point = 1;
  for (; point < 60; ++point) {
    const double metered = requests_total(gateway.runtime());
    const int sent = gateway.sim_requests("gpu");
    beast::test::fail_count fail(point);
    const std::string response = gateway.exchange(chat_request("llama", 5, true), &fail);
    EXPECT_FALSE(gateway.escaped()) << point;
    const auto snapshot = gateway.snapshot();
    EXPECT_EQ(snapshot->budgets->reserved(0), core::Money{}) << point;
    EXPECT_EQ(snapshot->live->endpoint(0).in_flight(), 0u) << point;
    // Failing while the request is still being read, nothing reaches the upstream and there is
    // no request to meter; once it went upstream, it is metered exactly once.
    EXPECT_EQ(requests_total(gateway.runtime()) - metered, gateway.sim_requests("gpu") - sent)
        << point;
    if (response.find("data: [DONE]") != std::string::npos) break;  // nothing failed any more
  }
  EXPECT_GT(point, 3u);
  EXPECT_LT(point, 60u);
}

// A circuit opens on a failure; its 60 s cooldown passes on the advanced clock, not the
// wall's; the probe that follows succeeds and closes it.
TEST(Proxy, AnOpenCircuitIsProbedOnceItsCooldownHasPassedOnTheClock) {
  InProcessGateway gateway(
      "endpoints: {a: {listen: 127.0.0.1:0, fail_first: 1, fail_first_status: 503}, "
      "b: {listen: 127.0.0.1:0}}",
      R"(endpoints:
  a: {kind: serverless, base_url: "http://${a}/v1", pricing: {m: {input: 1, output: 1}},
      circuit_breaker: {failures: 1, cooldown: 60s}}
  b: {kind: serverless, base_url: "http://${b}/v1", pricing: {m: {input: 2, output: 2}}}
models:
  m: {targets: [a/m, b/m]}
)");
  const std::string first = gateway.exchange(chat_request("m", 3, false));
  EXPECT_EQ(header(first, "x-fulcrum-endpoint"), "b");
  EXPECT_EQ(header(first, "x-fulcrum-reason"), "fallback:503");
  const std::string avoided = gateway.exchange(chat_request("m", 3, false));
  EXPECT_EQ(header(avoided, "x-fulcrum-endpoint"), "b");
  EXPECT_EQ(header(avoided, "x-fulcrum-reason"), "spill:circuit-open");

  core::advance_clocks(61s);
  const std::string probed = gateway.exchange(chat_request("m", 3, false));
  EXPECT_EQ(header(probed, "x-fulcrum-endpoint"), "a") << probed;
  EXPECT_EQ(header(probed, "x-fulcrum-reason"), "cheapest");
  EXPECT_EQ(gateway.snapshot()->live->endpoint(0).breaker.state(core::Clock::now()),
            router::CircuitBreaker::State::closed);
}

}  // namespace
}  // namespace fulcrum::testing
