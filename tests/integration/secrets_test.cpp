// Secrets never leave: canary keys for every secret the gateway holds, driven through success,
// client errors, upstream errors that echo the key, fallbacks, admin calls, reloads and the
// ledger. Every Stack audits its secrets when it ends (tests/support/stack.cpp): the log,
// /metrics, /admin/config, the ledger and everything any client received. This test makes
// sure that audit has plenty to search, and that it would catch a leak.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "fulcrum/auth/authenticator.hpp"

namespace fulcrum::testing {
namespace {

constexpr const char* kClientKey = "sk-client-canary-3f9d2a71";
constexpr const char* kGoodKey = "sk-endpoint-canary-8c1e4b62";
constexpr const char* kWrongKey = "sk-wrong-canary-d07a5e93";
constexpr const char* kAdminToken = "admin-canary-token-51b7c2e8a4";

std::string sims() {
  return std::string("endpoints:\n  good: {listen: 127.0.0.1:0, api_key: ") + kGoodKey +
         "}\n  picky: {listen: 127.0.0.1:0, api_key: sk-something-else}\n";
}

std::string gateway() {
  return std::string(R"(server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  threads: 2
  admin_token_env: ADMIN_TOKEN
auth: {mode: required}
keys:
  - {id: app, sha256: )") +
         auth::to_hex(auth::sha256(kClientKey)) + R"(, models: [chat, echo, flaky]}
endpoints:
  good: {kind: serverless, base_url: 'http://${good}/v1', api_key_env: GOOD_KEY,
         pricing: {m: {input: 1, output: 1}}}
  picky: {kind: serverless, base_url: 'http://${picky}/v1', api_key_env: WRONG_KEY,
          pricing: {m: {input: 1, output: 1}}}
  down: {kind: serverless, base_url: 'http://127.0.0.1:1/v1', api_key_env: WRONG_KEY,
         pricing: {m: {input: 0.1, output: 0.1}}}
models:
  chat: {targets: [good/m]}
  echo: {targets: [picky/m]}
  flaky: {targets: [down/m, good/m]}
  forbidden: {targets: [good/m]}
)";
}

const std::map<std::string, std::string> kEnv{
    {"GOOD_KEY", kGoodKey}, {"WRONG_KEY", kWrongKey}, {"ADMIN_TOKEN", kAdminToken}};

std::string chat(const std::string& model, bool stream = false) {
  return R"({"model":")" + model + R"(","max_tokens":4,"stream":)" + (stream ? "true" : "false") +
         R"(,"messages":[{"role":"user","content":"hello"}]})";
}

TEST(Secrets, CanaryKeysAppearNowhereAcrossEveryPath) {
  Stack stack(sims(), gateway(), kEnv);
  stack.add_secret(kClientKey);
  const std::map<std::string, std::string> auth{
      {"authorization", std::string("Bearer ") + kClientKey}};
  HttpClient client(stack.port());
  EXPECT_EQ(client.post("/v1/chat/completions", chat("chat"), auth).status, 200u);
  EXPECT_EQ(client.post("/v1/chat/completions", chat("chat", true), auth).status, 200u);
  // The upstream refuses the key and quotes it back: passed on with the key scrubbed.
  const Response echoed = client.post("/v1/chat/completions", chat("echo"), auth);
  EXPECT_EQ(echoed.status, 401u);
  EXPECT_NE(echoed.body.find("[redacted]"), std::string::npos);
  // A refused endpoint on the way to a good one.
  const Response flaky = client.post("/v1/chat/completions", chat("flaky"), auth);
  EXPECT_EQ(flaky.status, 200u) << flaky.body;
  // Client mistakes: no key, a wrong key (which is echoed nowhere), a forbidden model.
  EXPECT_EQ(client.post("/v1/chat/completions", chat("chat")).status, 401u);
  EXPECT_EQ(client
                .post("/v1/chat/completions", chat("chat"),
                      {{"authorization", std::string("Bearer ") + kWrongKey}})
                .status,
            401u);
  EXPECT_EQ(client.post("/v1/chat/completions", chat("forbidden"), auth).status, 403u);
  // Admin calls, a reload (valid, then invalid), the breakeven report.
  EXPECT_EQ(stack.admin("GET", "/admin/endpoints").status, 200u);
  EXPECT_EQ(stack.admin("GET", "/admin/report?since=1h").status, 200u);
  stack.rewrite_config(gateway() + "  extra: {targets: [good/m]}\n");
  EXPECT_EQ(stack.admin("POST", "/admin/reload").status, 200u);
  stack.rewrite_config(gateway() + "  broken: {targets: [nowhere/m]}\n");
  EXPECT_EQ(stack.admin("POST", "/admin/reload").status, 422u);
  EXPECT_TRUE(eventually([&] { return ledger_rows(stack.ledger_path()).size() >= 4; }));
  // The Stack's audit runs as it goes out of scope, over all of the above.
}

// The audit is not a formality: a value that does reach a client is reported.
TEST(Secrets, TheAuditReportsALeak) {
  EXPECT_NONFATAL_FAILURE(
      {
        Stack stack("endpoints: {good: {listen: 127.0.0.1:0}}",
                    "endpoints:\n  good: {kind: serverless, base_url: 'http://${good}/v1', "
                    "pricing: {m: {input: 1, output: 1}}}\nmodels:\n  m: {targets: [good/m]}\n");
        // fulcrum-sim's text, which every chat response carries, stands in for a leaked key.
        stack.add_secret("Fulcrum routes tokens");
        HttpClient(stack.port()).post("/v1/chat/completions", chat("m"));
      },
      "appears in responses to clients");
}

}  // namespace
}  // namespace fulcrum::testing
