// The admin API: the token, the redacted running config and its hash, live endpoint state.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "fulcrum/auth/authenticator.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

constexpr const char* kAdminToken = "admin-token-canary-0123456789";
constexpr const char* kEndpointKey = "sk-endpoint-canary-9876";

std::string gateway() {
  return R"(server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  threads: 2
  admin_token_env: ADMIN_TOKEN
endpoints:
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 4}
    circuit_breaker: {failures: 2, cooldown: 60s}
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    api_key_env: CLOUD_KEY
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
    cold_start: {after_idle: 300s, p50: 1s, p95: 2s}
models:
  llama-8b: {targets: [gpu/llama, cloud/gpt-4o-mini]}
  mini: {targets: [cloud/gpt-4o-mini]}
keys:
  - {id: app, sha256: )" +
         auth::to_hex(auth::sha256("sk-client")) + R"(, team: search}
)";
}

const std::map<std::string, std::string> kEnv{{"ADMIN_TOKEN", kAdminToken},
                                              {"CLOUD_KEY", kEndpointKey}};

Response admin_get(const Stack& stack, const std::string& path, bool with_token = true) {
  HttpClient client(stack.admin_port());
  return client.request(
      "GET", path, "",
      with_token ? std::map<std::string, std::string>{{"authorization",
                                                       std::string("Bearer ") + kAdminToken}}
                 : std::map<std::string, std::string>{});
}

TEST(Admin, TheTokenGuardsMetricsAndTheAdminApiButNotTheProbes) {
  Stack stack(
      "endpoints: {gpu: {listen: 127.0.0.1:0}, cloud: {listen: 127.0.0.1:0, api_key: "
      "sk-endpoint-canary-9876}}",
      gateway(), kEnv);
  for (const char* path : {"/metrics", "/admin/config", "/admin/endpoints"}) {
    const Response denied = admin_get(stack, path, false);
    EXPECT_EQ(denied.status, 401u) << path;
    EXPECT_EQ(json::parse(denied.body)["error"]["code"], "invalid_api_key");
    EXPECT_EQ(admin_get(stack, path).status, 200u) << path;
  }
  HttpClient wrong(stack.admin_port());
  EXPECT_EQ(
      wrong.request("GET", "/metrics", "", {{"authorization", "Bearer admin-token-canary"}}).status,
      401u);
  EXPECT_EQ(admin_get(stack, "/healthz", false).status, 200u);
  EXPECT_EQ(admin_get(stack, "/readyz", false).status, 200u);
}

TEST(Admin, TheRunningConfigIsShownWithItsHashAndWithoutSecrets) {
  Stack stack(
      "endpoints: {gpu: {listen: 127.0.0.1:0}, cloud: {listen: 127.0.0.1:0, api_key: "
      "sk-endpoint-canary-9876}}",
      gateway(), kEnv);
  const Response res = admin_get(stack, "/admin/config");
  ASSERT_EQ(res.status, 200u);
  const json doc = json::parse(res.body);
  const std::string hash = doc["hash"];
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_EQ(stack.metric("fulcrum_config_info", {{"hash", hash}}), 1);
  EXPECT_EQ(doc["config"]["endpoints"]["cloud"]["api_key"], "[redacted]");
  EXPECT_EQ(doc["config"]["endpoints"]["cloud"]["api_key_env"], "CLOUD_KEY");
  EXPECT_EQ(doc["config"]["endpoints"]["gpu"]["capacity"]["max_concurrency"], 4);
  EXPECT_EQ(doc["config"]["models"]["llama-8b"]["targets"][0]["endpoint"], "gpu");
  EXPECT_EQ(doc["config"]["keys"][0]["id"], "app");
  EXPECT_EQ(doc["config"]["routes"].back()["name"], "default");
  for (const std::string& secret : {std::string(kAdminToken), std::string(kEndpointKey),
                                    auth::to_hex(auth::sha256("sk-client"))}) {
    EXPECT_EQ(res.body.find(secret), std::string::npos) << secret;
  }
}

TEST(Admin, EndpointsShowInFlightUtilizationAndWarmth) {
  Stack stack(
      "endpoints: {gpu: {listen: 127.0.0.1:0, tokens_per_second: 5}, cloud: "
      "{listen: 127.0.0.1:0, api_key: sk-endpoint-canary-9876}}",
      gateway(), kEnv);
  std::thread slow([&] {
    HttpClient client(stack.port());
    client.post(
        "/v1/chat/completions",
        R"({"model":"llama-8b","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})");
  });
  ASSERT_TRUE(eventually([&] {
    return json::parse(admin_get(stack, "/admin/endpoints").body)["gpu"]["in_flight"] == 1;
  }));
  const json live = json::parse(admin_get(stack, "/admin/endpoints").body);
  EXPECT_EQ(live["gpu"]["utilization"], 0.25);
  EXPECT_EQ(live["gpu"]["circuit"], "closed");
  EXPECT_EQ(live["cloud"]["cold"], true);  // never used: assumed cold
  EXPECT_TRUE(live["cloud"]["idle_seconds"].is_null());
  EXPECT_GT(live["gpu"]["latency_estimate"]["ttft"], 0);
  slow.join();
  EXPECT_TRUE(eventually([&] {
    return json::parse(admin_get(stack, "/admin/endpoints").body)["gpu"]["in_flight"] == 0;
  }));
}

}  // namespace
}  // namespace fulcrum::testing
