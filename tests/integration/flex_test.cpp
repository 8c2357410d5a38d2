// OpenAI's flex tier over real sockets: a route's flex_for class goes upstream with
// service_tier "flex" and is charged at the flex price; other classes go as the client sent
// them at the normal price; a flex attempt the tier refuses (429) is served at the normal tier.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "fulcrum/core/money.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

// `tight` has no flex capacity: every flex request answers 429, normal ones are served.
// `slow` starts a flex answer 3 s late, past the gateway's first-byte timeout.
constexpr const char* kSim =
    "endpoints:\n"
    "  cloud: {listen: 127.0.0.1:0}\n"
    "  tight: {listen: 127.0.0.1:0, flex_429: true}\n"
    "  slow: {listen: 127.0.0.1:0, flex_ttft: 3s}\n";

// Per million tokens: normal 0.15 in / 0.60 out, flex 0.075 / 0.30; in nano-USD per token:
// 150 / 600 and 75 / 300.
constexpr const char* kGateway = R"(endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60, flex: {input: 0.075, output: 0.30}}}
  tight:
    kind: serverless
    base_url: http://${tight}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60, flex: {input: 0.075, output: 0.30}}}
  slow:
    kind: serverless
    base_url: http://${slow}/v1
    timeouts: {first_byte: 500ms}
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60, flex: {input: 0.075, output: 0.30}}}
models:
  mini: {targets: [cloud/gpt-4o-mini]}
  tight: {targets: [tight/gpt-4o-mini]}
  slow: {targets: [slow/gpt-4o-mini]}
routes:
  - {name: bulk, match: {model: [mini, tight, slow]}, flex_for: [batch]}
)";

std::string chat(const std::string& model, const std::string& extra) {
  return R"({"model":")" + model + R"(","max_tokens":20,)" + extra +
         R"("messages":[{"role":"user","content":"one two three"}]})";
}

const std::map<std::string, std::string> kBatch = {{"x-fulcrum-priority", "batch"}};
const std::map<std::string, std::string> kStandard = {{"x-fulcrum-priority", "standard"}};

// The ledger's row for `request_id`, once it is written.
json row_of(const Stack& stack, const std::string& request_id) {
  json found;
  EXPECT_TRUE(eventually([&] {
    for (const json& row : ledger_rows(stack.ledger_path())) {
      if (row["request_id"] == request_id) {
        found = row;
        return true;
      }
    }
    return false;
  }));
  return found;
}

// What `answer`'s usage costs at `input` and `output` nano-USD per token.
std::int64_t nano_usd(const json& answer, std::int64_t input, std::int64_t output) {
  return answer["usage"]["prompt_tokens"].get<std::int64_t>() * input +
         answer["usage"]["completion_tokens"].get<std::int64_t>() * output;
}

// A batch request whose flex attempt on `endpoint` fell back (`reason`): served by the same
// endpoint at the normal tier, in two attempts, charged the normal price, its circuit closed
// (the flex tier's refusal or slowness says nothing of the normal tier).
void expect_normal_tier_fallback(Stack& stack, const Response& res, const std::string& endpoint,
                                 const std::string& reason) {
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-reason"), reason);
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), endpoint);
  EXPECT_EQ(res.header("x-fulcrum-service-tier"), "");
  const json stats = stack.sim_stats()[endpoint];
  EXPECT_EQ(stats["requests"], 2);  // the flex attempt, then the normal one
  EXPECT_EQ(stats["last_body"].get<std::string>().find("service_tier"), std::string::npos);
  const json answer = json::parse(res.body);
  EXPECT_EQ(answer["service_tier"], "default");
  const json row = row_of(stack, res.header("x-fulcrum-request-id"));
  EXPECT_EQ(row["cost_nano_usd"], nano_usd(answer, 150, 600));
  EXPECT_EQ(row["attempts"], 2);
  EXPECT_EQ(stack.metric("fulcrum_circuit_breaker_open", {{"endpoint", endpoint}}).value_or(0), 0);
}

TEST(Flex, ABatchRequestGoesAtTheFlexTierAndIsChargedItsPrice) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  // The client's own service_tier is replaced for the flex attempt, in place.
  const std::string body = chat("mini", R"("service_tier":"auto",)");
  const Response res = client.post("/v1/chat/completions", body, kBatch);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-service-tier"), "flex");
  EXPECT_EQ(res.header("x-fulcrum-route"), "bulk");
  const json answer = json::parse(res.body);
  EXPECT_EQ(answer["service_tier"], "flex");  // as OpenAI reports the tier that served

  std::string expected = body;
  expected.replace(expected.find(R"("mini")"), 6, R"("gpt-4o-mini")");
  expected.replace(expected.find(R"("auto")"), 6, R"("flex")");
  EXPECT_EQ(stack.sim_stats()["cloud"]["last_body"], expected);

  EXPECT_EQ(answer["usage"]["completion_tokens"], 20);
  const json row = row_of(stack, res.header("x-fulcrum-request-id"));
  EXPECT_EQ(row["slo_class"], "batch");
  EXPECT_EQ(row["cost_nano_usd"], nano_usd(answer, 75, 300));
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), core::Money{nano_usd(answer, 75, 300)}.to_decimal());
}

TEST(Flex, AStandardRequestOnTheSameRouteGoesAsTheClientSentItAtTheNormalPrice) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const std::string body = chat("mini", R"("service_tier":"priority",)");
  const Response res = client.post("/v1/chat/completions", body, kStandard);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-service-tier"), "");
  std::string expected = body;
  expected.replace(expected.find(R"("mini")"), 6, R"("gpt-4o-mini")");
  EXPECT_EQ(stack.sim_stats()["cloud"]["last_body"], expected);

  // Without a service_tier of the client's, none is added.
  const Response plain = client.post("/v1/chat/completions", chat("mini", ""), kStandard);
  ASSERT_EQ(plain.status, 200u) << plain.body;
  EXPECT_EQ(stack.sim_stats()["cloud"]["last_body"].get<std::string>().find("service_tier"),
            std::string::npos);
  const json answer = json::parse(plain.body);
  EXPECT_EQ(answer["service_tier"], "default");
  const json row = row_of(stack, plain.header("x-fulcrum-request-id"));
  EXPECT_EQ(row["cost_nano_usd"], nano_usd(answer, 150, 600));
}

TEST(Flex, AFlexRefusalIsServedAtTheNormalTierOnTheSameTargetAndChargedNormally) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("tight", ""), kBatch);
  expect_normal_tier_fallback(stack, res, "tight", "flex-fallback:429");
}

TEST(Flex, AFlexAttemptPastItsFirstByteTimeoutIsServedAtTheNormalTier) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("slow", ""), kBatch);
  expect_normal_tier_fallback(stack, res, "slow", "flex-fallback:timeout");
}

}  // namespace
}  // namespace fulcrum::testing
