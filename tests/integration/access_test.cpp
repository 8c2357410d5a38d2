// API keys, rate limits and budgets over real sockets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "../support/temp_dir.hpp"
#include "fulcrum/auth/authenticator.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;
using Headers = std::map<std::string, std::string>;

constexpr const char* kClientKey = "sk-client-canary-4c1d";  // what apps hold
constexpr const char* kOtherKey = "sk-client-other-77aa";

std::string chat(const std::string& model, int max_tokens) {
  return json{{"model", model},
              {"max_tokens", max_tokens},
              {"messages", {{{"role", "user"}, {"content", "one two three"}}}}}
      .dump();
}

Headers bearer(const std::string& key) { return {{"authorization", "Bearer " + key}}; }

// The sim demands the endpoint's own key: a client key forwarded upstream would get a 401.
constexpr const char* kSim = R"(endpoints:
  cloud: {listen: 127.0.0.1:0, api_key: sk-endpoint-key, ttft: 300ms}
  cheap: {listen: 127.0.0.1:0, api_key: sk-endpoint-key}
)";

std::string gateway(const std::string& rest) {
  return R"(endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    api_key_env: ENDPOINT_KEY
    pricing: {gpt-4o-mini: {input: 1.0, output: 2.0}}
  cheap:
    kind: serverless
    base_url: http://${cheap}/v1
    api_key_env: ENDPOINT_KEY
    pricing: {llama: {input: 0.1, output: 0.1}}
models:
  mini: {targets: [cloud/gpt-4o-mini]}
  small: {targets: [cheap/llama]}
auth: {mode: required}
keys:
  - {id: app, sha256: )" +
         auth::to_hex(auth::sha256(kClientKey)) + R"(, team: search}
  - {id: other, sha256: )" +
         auth::to_hex(auth::sha256(kOtherKey)) + R"(, team: ads, models: [small], rpm: 3}
)" + rest;
}

const std::map<std::string, std::string> kEnv{{"ENDPOINT_KEY", "sk-endpoint-key"}};

TEST(Keys, MissingOrWrongKeysAre401AndTheClientKeyNeverTravelsOrLeaks) {
  Stack stack(kSim, gateway(""), kEnv);
  HttpClient client(stack.port());
  const Response missing = client.post("/v1/chat/completions", chat("mini", 3));
  EXPECT_EQ(missing.status, 401u);
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], "invalid_api_key");
  const Response wrong =
      client.post("/v1/chat/completions", chat("mini", 3), bearer("sk-client-canary-wrong"));
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(wrong.body.find("canary"), std::string::npos);

  const Response ok = client.post("/v1/chat/completions", chat("mini", 3), bearer(kClientKey));
  ASSERT_EQ(ok.status, 200u) << ok.body;  // the sim accepted the endpoint's key, not ours
  const Response forbidden =
      client.post("/v1/chat/completions", chat("mini", 3), bearer(kOtherKey));
  EXPECT_EQ(forbidden.status, 403u);
  EXPECT_EQ(json::parse(forbidden.body)["error"]["code"], "model_not_allowed");
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 1);

  // 3 prompt and 3 completion tokens at $1 and $2 per million, on the key's team.
  EXPECT_DOUBLE_EQ(
      *stack.metric("fulcrum_cost_usd_total", {{"endpoint", "cloud"}, {"team", "search"}}), 9e-6);
  const std::string metrics = stack.metrics();
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["key_id"], "app");
  EXPECT_EQ(rows[0]["team"], "search");
  std::string everything = metrics;
  for (const auto& row : rows) everything += row.dump();
  for (const auto& line : stack.gateway_lines()) everything += line;
  for (const std::string secret : {kClientKey, kOtherKey, "sk-endpoint-key"}) {
    EXPECT_EQ(everything.find(secret), std::string::npos) << secret;
  }
}

TEST(RateLimits, TheRequestBeyondAKeysRpmGets429WithOpenAisHeaders) {
  Stack stack(kSim, gateway(""), kEnv);
  HttpClient client(stack.port());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(client.post("/v1/chat/completions", chat("small", 3), bearer(kOtherKey)).status,
              200u);
  }
  const Response limited = client.post("/v1/chat/completions", chat("small", 3), bearer(kOtherKey));
  ASSERT_EQ(limited.status, 429u) << limited.body;
  const json error = json::parse(limited.body)["error"];
  EXPECT_EQ(error["code"], "rate_limit_exceeded");
  EXPECT_EQ(error["type"], "requests");
  EXPECT_EQ(limited.header("x-ratelimit-limit-requests"), "3");
  EXPECT_EQ(limited.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_FALSE(limited.header("x-ratelimit-reset-requests").empty());
  EXPECT_GE(std::stoi(limited.header("retry-after")), 1);
  EXPECT_EQ(stack.sim_stats()["cheap"]["requests"], 3);
  // Another key is not affected.
  EXPECT_EQ(client.post("/v1/chat/completions", chat("mini", 3), bearer(kClientKey)).status, 200u);
}

TEST(Budgets, AHardBudgetHoldsUnder50ConcurrentRequests) {
  // Each request may cost 8 input tokens (estimated) × $1/M + 100 output × $2/M = $0.000208;
  // it really costs 3 × $1/M + 100 × $2/M = $0.000203.
  Stack stack(kSim, gateway(R"(budgets:
  - {name: search-daily, scope: {team: search}, period: daily, hard_usd: 0.002}
)"),
              kEnv);
  std::vector<Response> responses(50);
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client(stack.port());
      responses[i] = client.post("/v1/chat/completions", chat("mini", 100), bearer(kClientKey));
    });
  }
  for (auto& thread : threads) thread.join();
  int served = 0;
  for (const Response& res : responses) {
    if (res.status == 200) {
      ++served;
      continue;
    }
    ASSERT_EQ(res.status, 429u) << res.body;
    EXPECT_EQ(json::parse(res.body)["error"]["type"], "insufficient_quota");
    EXPECT_GE(std::stoi(res.header("retry-after")), 1);
    EXPECT_LE(std::stoi(res.header("retry-after")), 86400);
  }
  EXPECT_EQ(served, 9);  // 9 × 0.000208 fits in 0.002; a tenth reservation would not
  const double spend = *stack.metric("fulcrum_budget_spend_usd", {{"budget", "search-daily"}});
  EXPECT_LE(spend, 0.002 + 0.000208);
  EXPECT_DOUBLE_EQ(spend, served * 0.000203);
  EXPECT_EQ(stack.metric("fulcrum_budget_actions_total",
                         {{"budget", "search-daily"}, {"action", "rejected"}}),
            50 - served);
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], served);
}

TEST(Budgets, ASoftLimitDowngradesToTheConfiguredAlias) {
  Stack stack(kSim, gateway(R"(budgets:
  - name: search-soft
    scope: {key: app}
    soft_usd: 0.0001
    on_soft: {downgrade_to: small}
)"),
              kEnv);
  HttpClient client(stack.port());
  const Response first = client.post("/v1/chat/completions", chat("mini", 100), bearer(kClientKey));
  EXPECT_EQ(first.header("x-fulcrum-endpoint"), "cloud");  // $0.000203 spent: over the soft limit
  const Response second =
      client.post("/v1/chat/completions", chat("mini", 100), bearer(kClientKey));
  ASSERT_EQ(second.status, 200u) << second.body;
  EXPECT_EQ(second.header("x-fulcrum-endpoint"), "cheap");
  EXPECT_EQ(second.header("x-fulcrum-reason"), "budget-downgrade, cheapest");
  EXPECT_EQ(stack.metric("fulcrum_budget_actions_total",
                         {{"budget", "search-soft"}, {"action", "downgraded"}}),
            1);
  EXPECT_EQ(stack.metric("fulcrum_budget_limit_usd", {{"budget", "search-soft"}, {"kind", "soft"}}),
            0.0001);
}

TEST(Budgets, SpendSurvivesARestartWithoutBeingCountedTwice) {
  const TempDir temp("budget");
  const std::string& dir = temp.path();
  const std::string config = gateway(R"(budgets:
  - {name: global-monthly, scope: global, period: monthly, tz: Europe/Berlin, hard_usd: 100}
  - {name: app-daily, scope: {key: app}, period: daily, soft_usd: 50}
ledger: {path: )" + dir + R"(/ledger.db}
)");
  double before = 0;
  {
    Stack stack(kSim, config, kEnv);
    HttpClient client(stack.port());
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(
          client.post("/v1/chat/completions", chat("mini", 10 + i), bearer(kClientKey)).status,
          200u);
    }
    ASSERT_EQ(client.post("/v1/chat/completions", chat("small", 10), bearer(kOtherKey)).status,
              200u);
    before = *stack.metric("fulcrum_budget_spend_usd", {{"budget", "global-monthly"}});
    EXPECT_GT(before, 0);
  }
  Stack restarted(kSim, config, kEnv);
  EXPECT_DOUBLE_EQ(*restarted.metric("fulcrum_budget_spend_usd", {{"budget", "global-monthly"}}),
                   before);
  // Only the app key's three requests: 3 input tokens and 10, 11, 12 output tokens.
  EXPECT_DOUBLE_EQ(*restarted.metric("fulcrum_budget_spend_usd", {{"budget", "app-daily"}}),
                   (3 * 3 + 33 * 2) / 1e6);
}

}  // namespace
}  // namespace fulcrum::testing
