// Provisioned economics over real sockets: each request is charged its share of the hourly
// price (header, ledger, cost counter and histogram agree), utilization and idle cost are
// exported, and amortized plus idle cost add up to the hourly price over the run.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "fulcrum/core/money.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kSim = "endpoints: {gpu: {listen: 127.0.0.1:0}}";
// 36 $/h is 0.01 $/s; at 100000 weighted tokens/s a weighted token costs 1e-7 $. The
// capacity is far above what the run uses, so utilization stays below 1.
constexpr double kHourlyUsd = 36;
constexpr double kTokensPerSecond = 100000;
constexpr double kInputWeight = 0.5;

std::string gateway() {
  return "endpoints:\n  gpu:\n    kind: provisioned\n    base_url: http://${gpu}/v1\n"
         "    hourly_usd: 36\n"
         "    capacity: {output_tokens_per_second: 100000, input_token_weight: 0.5, "
         "max_concurrency: 4}\n"
         "models:\n  llama: {targets: [gpu/llama]}\n";
}

std::string chat(int max_tokens, bool stream) {
  return R"({"model":"llama","max_tokens":)" + std::to_string(max_tokens) + R"(,"stream":)" +
         (stream ? "true" : "false") +
         R"(,"messages":[{"role":"user","content":"how much does this cost?"}]})";
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

TEST(Economics, ProvisionedRequestsAreChargedTheirShareAndTheRestIsIdle) {
  const auto before_start = Clock::now();
  Stack stack(kSim, gateway());
  const auto after_start = Clock::now();
  HttpClient client(stack.port());
  double weighted = 0;
  core::Money charged;
  for (int i = 1; i <= 6; ++i) {
    const Response res = client.post("/v1/chat/completions", chat(10 * i, false));
    ASSERT_EQ(res.status, 200u) << res.body;
    const json usage = json::parse(res.body)["usage"];
    const double w = usage["completion_tokens"].get<double>() +
                     kInputWeight * usage["prompt_tokens"].get<double>();
    const core::Money share = core::Money::from_usd(kHourlyUsd * w / (kTokensPerSecond * 3600));
    EXPECT_EQ(res.header("x-fulcrum-cost-usd"), share.to_decimal());
    EXPECT_EQ(res.header("x-fulcrum-marginal-cost-usd"), "0");
    weighted += w;
    charged += share;
  }
  for (int i = 0; i < 2; ++i) {
    HttpClient streamer(stack.port());
    const Response res = streamer.post("/v1/chat/completions", chat(20, true));
    ASSERT_EQ(res.status, 200u);
  }
  ASSERT_TRUE(eventually([&] { return ledger_rows(stack.ledger_path()).size() == 8; }));
  core::Money ledger_total;
  for (const json& row : ledger_rows(stack.ledger_path())) {
    EXPECT_EQ(row["cost_nano_usd"], 0);  // marginal
    EXPECT_GT(row["amortized_nano_usd"].get<std::int64_t>(), 0);
    ledger_total += core::Money{row["amortized_nano_usd"].get<std::int64_t>()};
  }
  EXPECT_GT(ledger_total, charged);  // the streams were charged too

  const auto scrape_start = Clock::now();
  const std::string scrape = stack.metrics();
  const double age_min = std::chrono::duration<double>(scrape_start - after_start).count();
  const double age_max = seconds_since(before_start);

  const auto value = [&](const std::string& name, std::map<std::string, std::string> labels) {
    const auto v = metric_value(scrape, name, labels);
    EXPECT_TRUE(v.has_value()) << name;
    return v.value_or(-1);
  };
  EXPECT_NEAR(value("fulcrum_cost_usd_total", {{"endpoint", "gpu"}, {"kind", "provisioned"}}),
              ledger_total.usd(), 1e-12);
  EXPECT_EQ(value("fulcrum_request_cost_usd_count", {{"kind", "provisioned"}}), 8);
  EXPECT_NEAR(value("fulcrum_request_cost_usd_sum", {{"kind", "provisioned"}}), ledger_total.usd(),
              1e-9);
  EXPECT_EQ(value("fulcrum_provisioned_hourly_cost_usd", {{"endpoint", "gpu"}}), kHourlyUsd);

  // The run is shorter than a minute: the window is the gateway's age so far.
  const double utilization = value("fulcrum_provisioned_utilization_ratio",
                                   {{"endpoint", "gpu"}, {"window", "1m"}, {"basis", "tokens"}});
  EXPECT_GE(utilization, weighted / (kTokensPerSecond * age_max));
  EXPECT_GT(value("fulcrum_provisioned_utilization_ratio",
                  {{"endpoint", "gpu"}, {"window", "1h"}, {"basis", "concurrency"}}),
            0);
  // Everything the hours cost is either a request's share or idle.
  const double idle = value("fulcrum_provisioned_idle_cost_usd_total", {{"endpoint", "gpu"}});
  EXPECT_GE(idle + ledger_total.usd(), kHourlyUsd * age_min / 3600 - 1e-9);
  EXPECT_LE(idle + ledger_total.usd(), kHourlyUsd * age_max / 3600 + 1e-9);
  // Effective cost per million tokens: the window's cost over the tokens served in it.
  EXPECT_GT(value("fulcrum_effective_cost_per_million_tokens_usd",
                  {{"endpoint", "gpu"}, {"window", "1m"}}),
            0);
}

// The running instance answers the breakeven report over its own ledger.
TEST(Economics, TheAdminReportAnalysesTheRunningLedger) {
  Stack stack(kSim, gateway());
  HttpClient client(stack.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(client.post("/v1/chat/completions", chat(8, false)).status, 200u);
  }
  ASSERT_TRUE(eventually([&] { return ledger_rows(stack.ledger_path()).size() == 3; }));
  const Response answer = stack.admin("GET", "/admin/report?since=1h");
  ASSERT_EQ(answer.status, 200u) << answer.body;
  const json report = json::parse(answer.body);
  EXPECT_EQ(report["schema"], "fulcrum.report/v1");
  EXPECT_EQ(report["period"]["requests"], 3);
  ASSERT_EQ(report["aliases"].size(), 1u);  // only aliases with traffic
  EXPECT_EQ(report["aliases"][0]["subject"], "llama");
  EXPECT_EQ(report["aliases"][0]["requests"], 3);
  EXPECT_EQ(stack.admin("GET", "/admin/report?since=yesterday-ish").status, 400u);
}

}  // namespace
}  // namespace fulcrum::testing
