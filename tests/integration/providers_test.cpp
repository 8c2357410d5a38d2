// Providers other than OpenAI's wire, through the gateway, against fulcrum-sim speaking each
// one's wire: Anthropic's Messages API and Bedrock's Converse API translated both ways (plain,
// streamed, tools, images, stop reasons, errors, cache usage priced per bucket; Bedrock signed
// with SigV4 and streamed in its binary eventstream), Azure OpenAI's deployment and v1 paths,
// and Gemini's OpenAI-compatible endpoint. Clients speak OpenAI throughout.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <tuple>

#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/auth/authenticator.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

constexpr const char* kSim = R"(endpoints:
  claude:   {listen: 127.0.0.1:0, wire: anthropic, api_key: ak-current, completion_tokens: 6, cached_tokens: 2, cache_write_tokens: 3}
  legacy:   {listen: 127.0.0.1:0, wire: anthropic, api_key: ak-legacy, completion_tokens: 4}
  busy:     {listen: 127.0.0.1:0, wire: anthropic, fail_status: 529}
  limited:  {listen: 127.0.0.1:0, wire: anthropic, rate_429: 1.0, retry_after: 1}
  capped:   {listen: 127.0.0.1:0, wire: anthropic, rate_429: 1.0, code_429: enforced_spend_limit_reached}
  cut:      {listen: 127.0.0.1:0, wire: anthropic, completion_tokens: 8, error_after_chunks: 3}
  early:    {listen: 127.0.0.1:0, wire: anthropic, error_after_chunks: 0}
  dropped:  {listen: 127.0.0.1:0, wire: anthropic, completion_tokens: 8, cut_after_chunks: 3}
  azure:    {listen: 127.0.0.1:0, wire: azure, api_key: az-key, completion_tokens: 3}
  ptu:      {listen: 127.0.0.1:0, wire: azure, api_key: az-key, rate_429: 1.0, retry_after: 1}
  gemini:   {listen: 127.0.0.1:0, wire: gemini, api_key: g-key, completion_tokens: 3}
  azurecut: {listen: 127.0.0.1:0, wire: azure, api_key: az-key, completion_tokens: 8, cut_after_chunks: 3}
  geminicut: {listen: 127.0.0.1:0, wire: gemini, api_key: g-key, completion_tokens: 8, cut_after_chunks: 3}
  flaky:    {listen: 127.0.0.1:0, wire: gemini, api_key: g-key, fail_status: 503}
  ptufull:  {listen: 127.0.0.1:0, wire: azure, api_key: az-key, completion_tokens: 3, utilization: "100%"}
  ptubusy:  {listen: 127.0.0.1:0, wire: azure, api_key: az-key, completion_tokens: 3, utilization: "85.0%"}
  bedrock:  {listen: 127.0.0.1:0, wire: bedrock, aws_access_key_id: AKIDSIM, aws_secret_access_key: sim-secret, aws_region: us-east-1, completion_tokens: 6, cached_tokens: 2, cache_write_tokens: 3}
  bkeyed:   {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, completion_tokens: 4}
  bthrottled: {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, rate_429: 1.0, retry_after: 2}
  bnotready: {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, fail_status: 429, error_type: ModelNotReadyException}
  btimeout: {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, fail_status: 408}
  bmodelerr: {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, fail_status: 424}
  bmidway:  {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, completion_tokens: 8, error_after_chunks: 3}
  bearly:   {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, error_after_chunks: 0, stream_exception: throttlingException}
  bcorrupt: {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, completion_tokens: 8, bad_crc_after_chunks: 2}
  bdropped: {listen: 127.0.0.1:0, wire: bedrock, api_key: bedrock-key, completion_tokens: 8, cut_after_chunks: 3}
)";

// Prices per 1M tokens as Anthropic lists Claude Sonnet's: a cache read 0.1×, a write 1.25×.
constexpr const char* kGateway = R"(endpoints:
  claude:
    kind: serverless
    provider: anthropic
    base_url: http://${claude}
    api_key_env: CLAUDE_KEY
    pricing:
      claude-sonnet-4-5: {input: 3, cached_input: 0.30, cache_write_input: 3.75, output: 15}
  claude-strict:
    kind: serverless
    provider: anthropic
    base_url: http://${claude}
    api_key_env: CLAUDE_KEY
    unsupported_params: reject
    pricing:
      claude-sonnet-4-5: {input: 3, output: 15}
  legacy:
    kind: serverless
    provider: anthropic
    anthropic_version: "2023-06-01"
    max_tokens: 100
    base_url: http://${legacy}
    api_key_env: LEGACY_KEY
    pricing:
      claude-3-5-haiku: {input: 0.8, output: 4}
  busy:
    kind: serverless
    provider: anthropic
    base_url: http://${busy}
    pricing:
      claude-sonnet-4-5: {input: 3, output: 15}
  limited:
    kind: serverless
    provider: anthropic
    base_url: http://${limited}
    pricing:
      claude-sonnet-4-5: {input: 3, output: 15}
  capped:
    kind: serverless
    provider: anthropic
    base_url: http://${capped}
    pricing:
      claude-sonnet-4-5: {input: 3, output: 15}
  cut:
    kind: serverless
    provider: anthropic
    base_url: http://${cut}
    pricing:
      claude-sonnet-4-5: {input: 3, output: 15}
  early:
    kind: serverless
    provider: anthropic
    base_url: http://${early}
    pricing:
      claude-sonnet-4-5: {input: 3, output: 15}
  dropped:
    kind: serverless
    provider: anthropic
    base_url: http://${dropped}
    pricing:
      claude-sonnet-4-5: {input: 3, output: 15}
  azure-dated:
    kind: serverless
    provider: azure
    api_version: "2024-10-21"
    base_url: http://${azure}
    api_key_env: AZURE_KEY
    pricing:
      gpt4o-prod: {input: 2.5, cached_input: 1.25, output: 10}
  azure-v1:
    kind: serverless
    provider: azure
    base_url: http://${azure}
    api_key_env: AZURE_KEY
    pricing:
      gpt4o-prod: {input: 2.5, output: 10}
  ptu:
    kind: provisioned
    provider: azure
    api_version: "2024-10-21"
    base_url: http://${ptu}
    api_key_env: AZURE_KEY
    hourly_usd: 10
    on_429: spill
  azure-cut:
    kind: serverless
    provider: azure
    base_url: http://${azurecut}
    api_key_env: AZURE_KEY
    pricing:
      gpt4o-prod: {input: 2.5, output: 10}
  gemini-cut:
    kind: serverless
    provider: gemini
    base_url: http://${geminicut}/v1beta/openai
    api_key_env: GEMINI_KEY
    pricing:
      gemini-2.0-flash: {input: 0.1, output: 0.4}
  ptu-full:
    kind: provisioned
    provider: azure
    api_version: "2024-10-21"
    base_url: http://${ptufull}
    api_key_env: AZURE_KEY
    hourly_usd: 10
    capacity: {max_concurrency: 10}
  ptu-busy:
    kind: provisioned
    provider: azure
    api_version: "2024-10-21"
    base_url: http://${ptubusy}
    api_key_env: AZURE_KEY
    hourly_usd: 10
    capacity: {max_concurrency: 10}
    headroom: {fraction: 0.2, reserved_for: [realtime]}
  gemini:
    kind: serverless
    provider: gemini
    base_url: http://${gemini}/v1beta/openai
    api_key_env: GEMINI_KEY
    pricing:
      gemini-2.0-flash: {input: 0.1, output: 0.4}
  flaky:
    kind: serverless
    provider: gemini
    base_url: http://${flaky}/v1beta/openai
    api_key_env: GEMINI_KEY
    pricing:
      gemini-2.0-flash: {input: 0.1, output: 0.4}
  bedrock:
    kind: serverless
    provider: bedrock
    base_url: http://${bedrock}
    apis: [chat, messages]  # its models are Claude: /v1/messages through InvokeModel
    region: us-east-1
    aws_access_key_id_env: SIM_AWS_KEY_ID
    aws_secret_access_key_env: SIM_AWS_SECRET
    aws_session_token_env: SIM_AWS_NO_TOKEN
    pricing:
      anthropic.claude-sonnet-4-5-v1:0: {input: 3, cached_input: 0.30, cache_write_input: 3.75, output: 15}
  bedrock-sts:
    kind: serverless
    provider: bedrock
    base_url: http://${bedrock}
    region: us-east-1
    aws_access_key_id_env: SIM_AWS_KEY_ID
    aws_secret_access_key_env: SIM_AWS_SECRET
    aws_session_token_env: SIM_AWS_TOKEN
    pricing:
      anthropic.claude-sonnet-4-5-v1:0: {input: 3, output: 15}
  bedrock-wrong:
    kind: serverless
    provider: bedrock
    base_url: http://${bedrock}
    region: us-east-1
    aws_access_key_id_env: SIM_AWS_KEY_ID
    aws_secret_access_key_env: SIM_AWS_WRONG_SECRET
    aws_session_token_env: SIM_AWS_NO_TOKEN
    pricing:
      anthropic.claude-sonnet-4-5-v1:0: {input: 3, output: 15}
  bedrock-ptu:
    kind: provisioned
    provider: bedrock
    base_url: http://${bedrock}
    region: us-east-1
    aws_access_key_id_env: SIM_AWS_KEY_ID
    aws_secret_access_key_env: SIM_AWS_SECRET
    aws_session_token_env: SIM_AWS_NO_TOKEN
    hourly_usd: 39.6
  bkeyed:
    kind: serverless
    provider: bedrock
    base_url: http://${bkeyed}
    region: us-west-2
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
  bthrottled:
    kind: serverless
    provider: bedrock
    base_url: http://${bthrottled}
    apis: [chat, messages]
    region: us-east-1
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
      anthropic.claude-sonnet-4-5-v1:0: {input: 3, output: 15}
  bnotready:
    kind: serverless
    provider: bedrock
    base_url: http://${bnotready}
    region: us-east-1
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
  btimeout:
    kind: serverless
    provider: bedrock
    base_url: http://${btimeout}
    region: us-east-1
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
  bmodelerr:
    kind: serverless
    provider: bedrock
    base_url: http://${bmodelerr}
    region: us-east-1
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
  bmidway:
    kind: serverless
    provider: bedrock
    base_url: http://${bmidway}
    apis: [chat, messages]
    region: us-east-1
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
      anthropic.claude-sonnet-4-5-v1:0: {input: 3, output: 15}
  bearly:
    kind: serverless
    provider: bedrock
    base_url: http://${bearly}
    region: us-east-1
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
  bcorrupt:
    kind: serverless
    provider: bedrock
    base_url: http://${bcorrupt}
    region: us-east-1
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
  bdropped:
    kind: serverless
    provider: bedrock
    base_url: http://${bdropped}
    region: us-east-1
    api_key_env: BEDROCK_KEY
    pricing:
      amazon.nova-lite-v1:0: {input: 0.06, output: 0.24}
models:
  claude: {targets: [claude/claude-sonnet-4-5]}
  strict: {targets: [claude-strict/claude-sonnet-4-5]}
  legacy: {targets: [legacy/claude-3-5-haiku]}
  limited: {targets: [limited/claude-sonnet-4-5]}
  busy-then-gemini: {targets: [busy/claude-sonnet-4-5, gemini/gemini-2.0-flash]}
  gemini-then-claude: {targets: [flaky/gemini-2.0-flash, claude/claude-sonnet-4-5]}
  capped-then-azure: {targets: [capped/claude-sonnet-4-5, azure-v1/gpt4o-prod]}
  cut: {targets: [cut/claude-sonnet-4-5]}
  dropped: {targets: [dropped/claude-sonnet-4-5]}
  early-then-gemini: {targets: [early/claude-sonnet-4-5, gemini/gemini-2.0-flash]}
  azure-dated: {targets: [azure-dated/gpt4o-prod]}
  azure-v1: {targets: [azure-v1/gpt4o-prod]}
  ptu-then-claude: {targets: [ptu/gpt4o-prod, claude/claude-sonnet-4-5]}
  gemini: {targets: [gemini/gemini-2.0-flash]}
  azure-cut: {targets: [azure-cut/gpt4o-prod]}
  gemini-cut: {targets: [gemini-cut/gemini-2.0-flash]}
  full-ptu-then-gemini: {targets: [ptu-full/gpt4o-ptu, gemini/gemini-2.0-flash]}
  busy-ptu-then-gemini: {targets: [ptu-busy/gpt4o-ptu, gemini/gemini-2.0-flash]}
  bedrock: {targets: ["bedrock/anthropic.claude-sonnet-4-5-v1:0"]}
  bedrock-sts: {targets: ["bedrock-sts/anthropic.claude-sonnet-4-5-v1:0"]}
  bedrock-wrong: {targets: ["bedrock-wrong/anthropic.claude-sonnet-4-5-v1:0"]}
  bedrock-ptu: {targets: ["bedrock-ptu/arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz"]}
  nova: {targets: ["bkeyed/amazon.nova-lite-v1:0"]}
  bthrottled: {targets: ["bthrottled/amazon.nova-lite-v1:0"]}
  btimeout: {targets: ["btimeout/amazon.nova-lite-v1:0"]}
  bmidway: {targets: ["bmidway/amazon.nova-lite-v1:0"]}
  claude-throttled: {targets: ["bthrottled/anthropic.claude-sonnet-4-5-v1:0"]}
  claude-midway: {targets: ["bmidway/anthropic.claude-sonnet-4-5-v1:0"]}
  bcorrupt: {targets: ["bcorrupt/amazon.nova-lite-v1:0"]}
  bdropped: {targets: ["bdropped/amazon.nova-lite-v1:0"]}
  throttled-then-gemini: {targets: ["bthrottled/amazon.nova-lite-v1:0", gemini/gemini-2.0-flash]}
  notready-then-gemini: {targets: ["bnotready/amazon.nova-lite-v1:0", gemini/gemini-2.0-flash]}
  timeout-then-gemini: {targets: ["btimeout/amazon.nova-lite-v1:0", gemini/gemini-2.0-flash]}
  modelerr-then-gemini: {targets: ["bmodelerr/amazon.nova-lite-v1:0", gemini/gemini-2.0-flash]}
  gemini-then-bedrock: {targets: [flaky/gemini-2.0-flash, "bkeyed/amazon.nova-lite-v1:0"]}
  bearly-then-gemini: {targets: ["bearly/amazon.nova-lite-v1:0", gemini/gemini-2.0-flash]}
routes:
  - name: in-order
    match: {model: [busy-then-gemini, gemini-then-claude, capped-then-azure, ptu-then-claude,
                    early-then-gemini, throttled-then-gemini, notready-then-gemini,
                    timeout-then-gemini, modelerr-then-gemini, gemini-then-bedrock,
                    bearly-then-gemini, full-ptu-then-gemini, busy-ptu-then-gemini]}
    strategy: ordered
)";

const std::map<std::string, std::string> kKeys = {{"CLAUDE_KEY", "ak-current"},
                                                  {"LEGACY_KEY", "ak-legacy"},
                                                  {"AZURE_KEY", "az-key"},
                                                  {"GEMINI_KEY", "g-key"},
                                                  {"SIM_AWS_KEY_ID", "AKIDSIM"},
                                                  {"SIM_AWS_SECRET", "sim-secret"},
                                                  {"SIM_AWS_WRONG_SECRET", "not-the-secret"},
                                                  {"SIM_AWS_TOKEN", "sts-session-token"},
                                                  {"BEDROCK_KEY", "bedrock-key"}};

// A chat request: "be brief" (system) and "one two three", 5 prompt words.
std::string chat(const std::string& model, const std::string& extra = "") {
  return R"({"model":")" + model +
         R"(","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"one two three"}])" +
         extra + "}";
}

const std::string kTools =
    R"(,"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather",)"
    R"("parameters":{"type":"object","properties":{"query":{"type":"string"}}}}},)"
    R"({"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}])";

json last_body(const Stack& stack, const std::string& endpoint) {
  return json::parse(stack.sim_stats()[endpoint]["last_body"].get<std::string>());
}

std::string read_stream(HttpClient& client) {
  std::string body;
  while (auto piece = client.next_piece()) body += *piece;
  return body;
}

// The JSON payloads of a chat stream's data events, and whether it ended with [DONE].
std::vector<json> chunks_of(const std::string& body, bool& done) {
  std::vector<json> out;
  done = false;
  std::size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const std::size_t end = body.find("\n\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    if (data == "[DONE]") {
      done = true;
    } else {
      out.push_back(json::parse(data));
    }
    at = end;
  }
  return out;
}

// A streamed chat through the gateway, on a connection of its own: its chunks, and whether it
// ended with [DONE].
std::vector<json> streamed(const Stack& stack, const std::string& alias, bool& done) {
  HttpClient client(stack.port());
  EXPECT_EQ(client.start("/v1/chat/completions", chat(alias, R"(,"stream":true)")).status, 200u)
      << alias;
  return chunks_of(read_stream(client), done);
}

// The first target failed after its 200 but before any content: the next one (gemini) served
// and the client never saw the failure.
void expect_fall_over_before_content(const Stack& stack, const std::string& alias,
                                     const std::string& failed) {
  bool done = false;
  const std::vector<json> chunks = streamed(stack, alias, done);
  EXPECT_TRUE(done);
  for (const json& c : chunks) EXPECT_FALSE(c.contains("error")) << c.dump();
  EXPECT_EQ(stack.sim_stats()[failed]["requests"], 1);
  EXPECT_EQ(stack.sim_stats()["gemini"]["requests"], 1);
}

// A stream cut after three words: it ends with an error event and no [DONE], and its one ledger
// row is a failure whose output is estimated from what was relayed ("Fulcrum routes tokens ",
// 22 characters). Returns that row.
json expect_cut_and_metered(Stack& stack, const std::string& alias) {
  bool done = false;
  const std::vector<json> chunks = streamed(stack, alias, done);
  EXPECT_FALSE(done);
  EXPECT_TRUE(!chunks.empty() && chunks.back().contains("error"))
      << (chunks.empty() ? std::string("no chunks") : chunks.back().dump());
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  EXPECT_EQ(rows.size(), 1u);
  if (rows.empty()) return json();
  EXPECT_EQ(rows[0]["outcome"], "upstream_error");
  EXPECT_EQ(rows[0]["output_tokens"], api::estimate_usage(0, 22).output);
  return rows[0];
}

TEST(Anthropic, APlainChatIsTranslatedAndItsUsageIsPricedPerBucketExactly) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response res = client.post(
      "/v1/chat/completions", chat("claude", R"(,"max_tokens":50,"temperature":0.5,"seed":7)"));
  ASSERT_EQ(res.status, 200u) << res.body;
  const json body = json::parse(res.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["id"], "msg_sim_0");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Fulcrum routes tokens to the cheapest ");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  // Anthropic said input_tokens 0, cache read 2, cache write 3: a 5-token prompt.
  EXPECT_EQ(body["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  EXPECT_EQ(body["usage"]["completion_tokens"], 6);
  // 2 × 0.30 + 3 × 3.75 + 6 × 15 USD per 1M tokens: the cache write is not also input.
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), "0.00010185");
  // 2026-10-21 takes no temperature: dropped, and said so.
  EXPECT_NE(res.header("x-fulcrum-warning").find("temperature"), std::string::npos);
  EXPECT_NE(res.header("x-fulcrum-warning").find("seed"), std::string::npos);

  const json upstream = last_body(stack, "claude");
  EXPECT_EQ(upstream["model"], "claude-sonnet-4-5");
  EXPECT_EQ(upstream["system"], "be brief");
  EXPECT_EQ(upstream["max_tokens"], 50);
  EXPECT_FALSE(upstream.contains("temperature"));
  EXPECT_EQ(upstream["messages"],
            json::parse(R"([{"role":"user","content":[{"type":"text","text":"one two three"}]}])"));
  EXPECT_EQ(stack.metric("fulcrum_tokens_total", {{"endpoint", "claude"}, {"type", "cache_write"}}),
            3.0);
  EXPECT_EQ(stack.metric("fulcrum_tokens_total", {{"endpoint", "claude"}, {"type", "cached"}}),
            2.0);

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["input_tokens"], 5);
  EXPECT_EQ(rows[0]["cached_tokens"], 2);
  EXPECT_EQ(rows[0]["cache_write_tokens"], 3);
  EXPECT_EQ(rows[0]["output_tokens"], 6);
  EXPECT_EQ(rows[0]["cost_nano_usd"], 101850);
}

TEST(Anthropic, EachVersionAuthenticatesItsWayAndTakesWhatItTakes) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  // 2023-06-01: x-api-key; temperature kept, but within Anthropic's 0 to 1; max_tokens from
  // the endpoint when the client sets none.
  const Response legacy =
      client.post("/v1/chat/completions", chat("legacy", R"(,"temperature":1.5,"top_p":0.9)"));
  ASSERT_EQ(legacy.status, 200u) << legacy.body;
  const json upstream = last_body(stack, "legacy");
  EXPECT_EQ(upstream["temperature"], 1.0);
  EXPECT_EQ(upstream["top_p"], 0.9);
  EXPECT_EQ(upstream["max_tokens"], 100);
  EXPECT_NE(legacy.header("x-fulcrum-warning").find("clamped"), std::string::npos);
  // unsupported_params: reject turns the same request into Fulcrum's 400, sent nowhere.
  const double before = stack.sim_stats()["claude"]["requests"].get<double>();
  const Response strict = client.post("/v1/chat/completions", chat("strict", R"(,"top_p":0.9)"));
  EXPECT_EQ(strict.status, 400u);
  const json error = json::parse(strict.body)["error"];
  EXPECT_EQ(error["param"], "top_p");
  EXPECT_EQ(error["code"], "unsupported_parameter");
  // Features Anthropic lacks are a 400 naming them, whatever the setting.
  for (const auto& [extra, param] : std::vector<std::pair<std::string, std::string>>{
           {R"(,"n":2)", "n"},
           {R"(,"logprobs":true)", "logprobs"},
           {R"(,"response_format":{"type":"json_object"})", "response_format"}}) {
    const Response refused = client.post("/v1/chat/completions", chat("claude", extra));
    EXPECT_EQ(refused.status, 400u) << extra;
    EXPECT_EQ(json::parse(refused.body)["error"]["param"], param);
  }
  EXPECT_EQ(stack.sim_stats()["claude"]["requests"].get<double>(), before);
}

TEST(Anthropic, ToolCallsAndToolResultsRoundTrip) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response first = client.post("/v1/chat/completions", chat("claude", kTools));
  ASSERT_EQ(first.status, 200u) << first.body;
  const json message = json::parse(first.body)["choices"][0]["message"];
  EXPECT_EQ(json::parse(first.body)["choices"][0]["finish_reason"], "tool_calls");
  ASSERT_EQ(message["tool_calls"].size(), 2u);  // parallel calls
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(message["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json::parse(R"({"query":"Fulcrum","limit":1})"));
  EXPECT_EQ(message["tool_calls"][1]["function"]["name"], "get_time");
  const json sent = last_body(stack, "claude");
  EXPECT_EQ(sent["tools"][0]["input_schema"]["properties"]["query"]["type"], "string");
  EXPECT_EQ(sent["tools"][1]["name"], "get_time");
  // 6 words and 2 tool calls of 8 tokens each.
  EXPECT_EQ(json::parse(first.body)["usage"]["completion_tokens"], 22);

  // The results go back as one user turn of tool_result blocks.
  const std::string id0 = message["tool_calls"][0]["id"];
  const std::string id1 = message["tool_calls"][1]["id"];
  const std::string second = R"({"model":"claude","messages":[{"role":"user","content":"weather"},)"
                             R"({"role":"assistant","content":null,"tool_calls":)" +
                             message["tool_calls"].dump() + R"(},{"role":"tool","tool_call_id":")" +
                             id0 + R"(","content":"sunny"},{"role":"tool","tool_call_id":")" + id1 +
                             R"(","content":"noon"}])" + kTools + "}";
  const Response answer = client.post("/v1/chat/completions", second);
  ASSERT_EQ(answer.status, 200u) << answer.body;
  EXPECT_EQ(json::parse(answer.body)["choices"][0]["finish_reason"], "stop");
  const json turns = last_body(stack, "claude")["messages"];
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[1]["content"][0]["type"], "tool_use");
  EXPECT_EQ(turns[1]["content"][0]["input"], json::parse(R"({"query":"Fulcrum","limit":1})"));
  EXPECT_EQ(turns[2]["role"], "user");
  ASSERT_EQ(turns[2]["content"].size(), 2u);
  EXPECT_EQ(turns[2]["content"][1]["type"], "tool_result");
  EXPECT_EQ(turns[2]["content"][1]["tool_use_id"], id1);

  // One named tool, no parallel calls.
  const Response named = client.post(
      "/v1/chat/completions",
      chat(
          "claude",
          kTools +
              R"(,"tool_choice":{"type":"function","function":{"name":"get_time"}},"parallel_tool_calls":false)"));
  ASSERT_EQ(named.status, 200u) << named.body;
  EXPECT_EQ(last_body(stack, "claude")["tool_choice"],
            json::parse(R"({"type":"tool","name":"get_time","disable_parallel_tool_use":true})"));
  const json calls = json::parse(named.body)["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["function"]["name"], "get_time");
  // "required" is Anthropic's "any".
  ASSERT_EQ(
      client.post("/v1/chat/completions", chat("claude", kTools + R"(,"tool_choice":"required")"))
          .status,
      200u);
  EXPECT_EQ(last_body(stack, "claude")["tool_choice"], json::parse(R"({"type":"any"})"));
}

TEST(Anthropic, StreamsBecomeChatChunksWithTheUsageChunkLast) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  ASSERT_EQ(client
                .start("/v1/chat/completions",
                       chat("claude", R"(,"stream":true,"stream_options":{"include_usage":true})"))
                .status,
            200u);
  bool done = false;
  const std::vector<json> chunks = chunks_of(read_stream(client), done);
  EXPECT_TRUE(done);
  ASSERT_EQ(chunks.size(), 8u);  // 6 words (the first with the role), the finish, the usage
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["content"], "Fulcrum ");
  std::string text;
  for (const json& c : chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    if (!c["choices"].empty() && c["choices"][0]["delta"].contains("content")) {
      text += c["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "Fulcrum routes tokens to the cheapest ");
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "stop");
  const json& usage = chunks.back()["usage"];
  EXPECT_TRUE(chunks.back()["choices"].empty());
  EXPECT_EQ(usage["prompt_tokens"], 5);
  EXPECT_EQ(usage["completion_tokens"], 6);

  // Tool calls stream as OpenAI's deltas: id and name first, arguments in pieces.
  ASSERT_EQ(
      client.start("/v1/chat/completions", chat("claude", kTools + R"(,"stream":true)")).status,
      200u);
  const std::vector<json> tool_chunks = chunks_of(read_stream(client), done);
  EXPECT_TRUE(done);
  std::map<int, std::string> arguments;
  std::map<int, std::string> names;
  std::string finish;
  for (const json& c : tool_chunks) {
    EXPECT_FALSE(c.contains("usage")) << "not asked for";
    const json& choice = c["choices"][0];
    if (choice["finish_reason"].is_string()) finish = choice["finish_reason"];
    if (!choice["delta"].contains("tool_calls")) continue;
    for (const json& call : choice["delta"]["tool_calls"]) {
      const int index = call["index"];
      if (call.contains("id")) names[index] = call["function"]["name"];
      arguments[index] += call["function"]["arguments"].get<std::string>();
    }
  }
  EXPECT_EQ(finish, "tool_calls");
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[1], "get_time");
  EXPECT_EQ(json::parse(arguments[1]), json::parse(R"({"query":"routes","limit":2})"));

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["output_tokens"], 6);
  EXPECT_EQ(rows[0]["cache_write_tokens"], 3);
  EXPECT_EQ(rows[1]["output_tokens"], 22);
  EXPECT_EQ(rows[1]["estimated"], 0);
}

TEST(Anthropic, ImagesGoAsBase64OrUrlSourcesAndOtherPartsAreRefused) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const std::string request =
      R"({"model":"claude","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},)"
      R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},)"
      R"({"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"low"}}]}]})";
  const Response res = client.post("/v1/chat/completions", request);
  ASSERT_EQ(res.status, 200u) << res.body;
  const json blocks = last_body(stack, "claude")["messages"][0]["content"];
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(
      blocks[1],
      json::parse(
          R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}})"));
  EXPECT_EQ(blocks[2],
            json::parse(
                R"({"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}})"));
  // Anthropic's own 400 (an image it cannot fetch) passes through in OpenAI's shape.
  const Response bad = client.post(
      "/v1/chat/completions",
      R"({"model":"claude","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]})");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(json::parse(bad.body)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(bad.header("content-type"), "application/json");
  const Response audio = client.post(
      "/v1/chat/completions",
      R"({"model":"claude","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]})");
  EXPECT_EQ(audio.status, 400u);
  EXPECT_EQ(json::parse(audio.body)["error"]["param"], "messages[0].content[0]");
}

TEST(Anthropic, StopSequencesAndMaxTokensBecomeFinishReasons) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response stopped =
      client.post("/v1/chat/completions", chat("claude", R"(,"stop":["the"])"));
  ASSERT_EQ(stopped.status, 200u);
  EXPECT_EQ(last_body(stack, "claude")["stop_sequences"], json::parse(R"(["the"])"));
  EXPECT_EQ(json::parse(stopped.body)["choices"][0]["message"]["content"],
            "Fulcrum routes tokens to ");
  EXPECT_EQ(json::parse(stopped.body)["choices"][0]["finish_reason"], "stop");
  const Response cut =
      client.post("/v1/chat/completions", chat("claude", R"(,"max_completion_tokens":3)"));
  ASSERT_EQ(cut.status, 200u);
  EXPECT_EQ(json::parse(cut.body)["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(json::parse(cut.body)["usage"]["completion_tokens"], 3);
}

TEST(Anthropic, ErrorsFallOverOrReachTheClientInOpenAIsShape) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  // 529 overloaded: another provider serves.
  const Response over = client.post("/v1/chat/completions", chat("busy-then-gemini"));
  ASSERT_EQ(over.status, 200u) << over.body;
  EXPECT_EQ(over.header("x-fulcrum-endpoint"), "gemini");
  // And back: Gemini's 503 falls over to Claude.
  const Response back = client.post("/v1/chat/completions", chat("gemini-then-claude"));
  ASSERT_EQ(back.status, 200u) << back.body;
  EXPECT_EQ(back.header("x-fulcrum-endpoint"), "claude");
  // A rate limit with nowhere else to go: OpenAI's 429 shape, Anthropic's Retry-After.
  const Response limited = client.post("/v1/chat/completions", chat("limited"));
  EXPECT_EQ(limited.status, 429u);
  EXPECT_EQ(json::parse(limited.body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(limited.header("retry-after"), "1");
  // A spend cap is tried once, never again on that target; another target serves.
  const Response capped = client.post("/v1/chat/completions", chat("capped-then-azure"));
  ASSERT_EQ(capped.status, 200u) << capped.body;
  EXPECT_EQ(capped.header("x-fulcrum-endpoint"), "azure-v1");
  EXPECT_EQ(stack.sim_stats()["capped"]["requests"], 1);
}

TEST(Anthropic, AnErrorEventAfterThe200EndsTheStreamWithAnErrorAndIsMetered) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  ASSERT_EQ(client.start("/v1/chat/completions", chat("cut", R"(,"stream":true)")).status, 200u);
  bool done = false;
  const std::vector<json> chunks = chunks_of(read_stream(client), done);
  EXPECT_FALSE(done) << "a failed stream never ends as complete";
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.back()["error"]["message"], "Overloaded");
  int words = 0;
  for (const json& c : chunks) {
    if (c.contains("choices") && !c["choices"][0]["delta"].value("content", "").empty()) ++words;
  }
  EXPECT_EQ(words, 3);
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["outcome"], "upstream_error");
  EXPECT_EQ(rows[0]["input_tokens"], 5);
  // Anthropic counts output at the end; the 3 words relayed ("Fulcrum routes tokens ") are
  // estimated instead.
  EXPECT_EQ(rows[0]["output_tokens"], api::estimate_usage(0, 22).output);
}

TEST(Anthropic, AnOverloadBeforeAnyContentFallsOverThoughTheUpstreamSaid200) {
  Stack stack(kSim, kGateway, kKeys);
  expect_fall_over_before_content(stack, "early-then-gemini", "early");
}

TEST(Anthropic, AStreamCutMidwayIsMeteredForWhatWasRelayed) {
  Stack stack(kSim, kGateway, kKeys);
  const json row = expect_cut_and_metered(stack, "dropped");
  EXPECT_EQ(row["input_tokens"], 5);  // from message_start; the output not its 1
}

TEST(Azure, DeploymentAndV1PathsWithTheApiKeyHeader) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response dated = client.post("/v1/chat/completions", chat("azure-dated"));
  ASSERT_EQ(dated.status, 200u) << dated.body;
  EXPECT_EQ(json::parse(dated.body)["model"], "gpt4o-prod");  // the deployment answered
  EXPECT_EQ(last_body(stack, "azure")["model"], "gpt4o-prod");
  const Response v1 = client.post("/v1/chat/completions", chat("azure-v1"));
  ASSERT_EQ(v1.status, 200u) << v1.body;
  // 5 in × 2.5 + 3 out × 10 per 1M.
  EXPECT_EQ(v1.header("x-fulcrum-cost-usd"), "0.0000425");
  // A PTU deployment that is full (429 with retry-after-ms) spills at once.
  const Response spilled = client.post("/v1/chat/completions", chat("ptu-then-claude"));
  ASSERT_EQ(spilled.status, 200u) << spilled.body;
  EXPECT_EQ(spilled.header("x-fulcrum-endpoint"), "claude");
  EXPECT_NE(spilled.header("x-fulcrum-reason").find("spill"), std::string::npos);
  EXPECT_EQ(stack.sim_stats()["ptu"]["requests"], 1);
}

TEST(Azure, APtuReportingItselfFullIsSpilledFromBeforeItRefuses) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  // Nothing reported yet: the PTU serves, and says it is at 100%.
  const Response first = client.post("/v1/chat/completions", chat("full-ptu-then-gemini"));
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.header("x-fulcrum-endpoint"), "ptu-full");
  EXPECT_EQ(stack.metric("fulcrum_endpoint_reported_utilization", {{"endpoint", "ptu-full"}}), 1.0);
  // Though this gateway has nothing in flight there, the next request spills without trying.
  const Response second = client.post("/v1/chat/completions", chat("full-ptu-then-gemini"));
  ASSERT_EQ(second.status, 200u) << second.body;
  EXPECT_EQ(second.header("x-fulcrum-endpoint"), "gemini");
  EXPECT_EQ(second.header("x-fulcrum-reason"), "spill:capacity");
  EXPECT_EQ(stack.sim_stats()["ptufull"]["requests"], 1);
}

TEST(Azure, AReportedLoadCountsAgainstTheSharesOfEachClass) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  ASSERT_EQ(client.post("/v1/chat/completions", chat("busy-ptu-then-gemini")).status, 200u);
  // 85% of 10 slots: 8 busy by the deployment's own account, the standard class's whole share
  // (the last 2 are realtime's headroom).
  const Response standard = client.post("/v1/chat/completions", chat("busy-ptu-then-gemini"));
  ASSERT_EQ(standard.status, 200u) << standard.body;
  EXPECT_EQ(standard.header("x-fulcrum-endpoint"), "gemini");
  const Response realtime = client.post("/v1/chat/completions", chat("busy-ptu-then-gemini"),
                                        {{"x-fulcrum-priority", "realtime"}});
  ASSERT_EQ(realtime.status, 200u) << realtime.body;
  EXPECT_EQ(realtime.header("x-fulcrum-endpoint"), "ptu-busy");  // from its headroom
  EXPECT_EQ(stack.metric("fulcrum_endpoint_reported_utilization", {{"endpoint", "ptu-busy"}}),
            0.85);
}

// Azure's and Gemini's wires are OpenAI's: tools and images reach them as the client wrote
// them, streams come back as they were sent, and a cut stream ends in an SSE error.
TEST(OpenAIWireProviders, ToolsImagesStreamsAndCutStreamsOnAzureAndGemini) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const std::string image =
      R"(,"messages":[{"role":"user","content":[{"type":"text","text":"one two three"},)"
      R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}])";
  for (const auto& [alias, sim, upstream_model] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"azure-v1", "azure", "gpt4o-prod"}, {"gemini", "gemini", "gemini-2.0-flash"}}) {
    const std::string request =
        R"({"model":")" + alias + R"(")" + image + kTools +
        R"(,"tool_choice":"auto","stream":true,"stream_options":{"include_usage":true}})";
    ASSERT_EQ(client.start("/v1/chat/completions", request).status, 200u) << alias;
    bool done = false;
    const std::vector<json> chunks = chunks_of(read_stream(client), done);
    EXPECT_TRUE(done) << alias;
    ASSERT_FALSE(chunks.empty());
    EXPECT_EQ(chunks.back()["usage"]["completion_tokens"], 3) << alias;
    EXPECT_GT(chunks.back()["usage"]["prompt_tokens"].get<int>(), 0) << alias;
    // Byte for byte but the model: the tools and the image went as the client wrote them.
    std::string expected = request;
    expected.replace(expected.find(alias), alias.size(), upstream_model);
    EXPECT_EQ(stack.sim_stats()[sim]["last_body"], expected) << alias;
  }
  for (const char* alias : {"azure-cut", "gemini-cut"}) {
    HttpClient fresh(stack.port());  // a cut stream ends its connection
    ASSERT_EQ(fresh.start("/v1/chat/completions", chat(alias, R"(,"stream":true)")).status, 200u);
    bool done = false;
    const std::vector<json> chunks = chunks_of(read_stream(fresh), done);
    EXPECT_FALSE(done) << alias;
    ASSERT_FALSE(chunks.empty()) << alias;
    EXPECT_TRUE(chunks.back().contains("error")) << alias << chunks.back().dump();
  }
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[2]["outcome"], "upstream_error");
  EXPECT_EQ(rows[3]["outcome"], "upstream_error");
}

TEST(Gemini, TheOpenAICompatibleEndpointWithABearerKey) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const std::string request = chat("gemini", R"(,"max_tokens":3)");
  const Response res = client.post("/v1/chat/completions", request);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["usage"]["completion_tokens"], 3);
  // OpenAI's wire: the client's bytes, only the model replaced.
  std::string expected = request;
  expected.replace(expected.find("gemini"), 6, "gemini-2.0-flash");
  EXPECT_EQ(stack.sim_stats()["gemini"]["last_body"], expected);
}

TEST(Bedrock, APlainChatIsSignedTranslatedAndPricedPerBucketExactly) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response res =
      client.post("/v1/chat/completions", chat("bedrock", R"(,"max_tokens":50,"temperature":0.5)"));
  ASSERT_EQ(res.status, 200u) << res.body;
  const json body = json::parse(res.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "bedrock");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Fulcrum routes tokens to the cheapest ");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  // Bedrock said inputTokens 0, cacheRead 2, cacheWrite 3: a 5-token prompt.
  EXPECT_EQ(body["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  EXPECT_EQ(body["usage"]["completion_tokens"], 6);
  // 2 × 0.30 + 3 × 3.75 + 6 × 15 USD per 1M tokens: the cache write is not also input.
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), "0.00010185");
  // The sim checked the SigV4 signature with its secret; the model ID is the path's.
  EXPECT_EQ(stack.sim_stats()["bedrock"]["last_model_id"], "anthropic.claude-sonnet-4-5-v1:0");
  const json upstream = last_body(stack, "bedrock");
  EXPECT_FALSE(upstream.contains("model"));
  EXPECT_EQ(upstream["system"], json::parse(R"([{"text":"be brief"}])"));
  EXPECT_EQ(upstream["inferenceConfig"], json::parse(R"({"maxTokens":50,"temperature":0.5})"));
  EXPECT_EQ(upstream["messages"],
            json::parse(R"([{"role":"user","content":[{"text":"one two three"}]}])"));

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["input_tokens"], 5);
  EXPECT_EQ(rows[0]["cached_tokens"], 2);
  EXPECT_EQ(rows[0]["cache_write_tokens"], 3);
  EXPECT_EQ(rows[0]["output_tokens"], 6);
  EXPECT_EQ(rows[0]["cost_nano_usd"], 101850);
}

TEST(Bedrock, SessionTokensAndApiKeysAuthenticateAndAWrongSecretIsRefused) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  // STS credentials: the session token is sent and signed.
  const Response sts = client.post("/v1/chat/completions", chat("bedrock-sts"));
  EXPECT_EQ(sts.status, 200u) << sts.body;
  // A Bedrock API key: a bearer token, no signature.
  const Response keyed = client.post("/v1/chat/completions", chat("nova"));
  EXPECT_EQ(keyed.status, 200u) << keyed.body;
  EXPECT_EQ(json::parse(keyed.body)["usage"]["completion_tokens"], 4);
  // Signed with the wrong secret: Bedrock's 403, in OpenAI's shape, no secret in it.
  const Response wrong = client.post("/v1/chat/completions", chat("bedrock-wrong"));
  EXPECT_EQ(wrong.status, 403u) << wrong.body;
  const json error = json::parse(wrong.body)["error"];
  EXPECT_EQ(error["type"], "permission_error");
  EXPECT_NE(error["message"].get<std::string>().find("signature"), std::string::npos)
      << error.dump();
  for (const char* secret : {"not-the-secret", "sim-secret", "sts-session-token", "bedrock-key"}) {
    EXPECT_EQ(wrong.body.find(secret), std::string::npos) << secret;
  }
}

TEST(Bedrock, ToolCallsRoundTripPlainAndStreamed) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response first = client.post("/v1/chat/completions", chat("bedrock", kTools));
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(json::parse(first.body)["choices"][0]["finish_reason"], "tool_calls");
  const json message = json::parse(first.body)["choices"][0]["message"];
  ASSERT_EQ(message["tool_calls"].size(), 2u);
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(message["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json::parse(R"({"query":"Fulcrum","limit":1})"));
  const json sent = last_body(stack, "bedrock");
  EXPECT_EQ(sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"],
            json::parse(R"({"query":{"type":"string"}})"));
  EXPECT_EQ(json::parse(first.body)["usage"]["completion_tokens"], 22);

  const std::string second =
      R"({"model":"bedrock","messages":[{"role":"user","content":"weather"},)"
      R"({"role":"assistant","content":null,"tool_calls":)" +
      message["tool_calls"].dump() + R"(},{"role":"tool","tool_call_id":")" +
      message["tool_calls"][0]["id"].get<std::string>() +
      R"(","content":"sunny"},{"role":"tool","tool_call_id":")" +
      message["tool_calls"][1]["id"].get<std::string>() + R"(","content":"noon"}])" + kTools +
      R"(,"tool_choice":"auto"})";
  const Response answer = client.post("/v1/chat/completions", second);
  ASSERT_EQ(answer.status, 200u) << answer.body;
  EXPECT_EQ(json::parse(answer.body)["choices"][0]["finish_reason"], "stop");
  const json turns = last_body(stack, "bedrock")["messages"];
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[1]["content"][0]["toolUse"]["input"],
            json::parse(R"({"query":"Fulcrum","limit":1})"));
  ASSERT_EQ(turns[2]["content"].size(), 2u);
  EXPECT_EQ(turns[2]["content"][1]["toolResult"]["content"], json::parse(R"([{"text":"noon"}])"));
  EXPECT_EQ(last_body(stack, "bedrock")["toolConfig"]["toolChoice"], json::parse(R"({"auto":{}})"));

  // Streamed: toolUse deltas become tool-call chunks with the arguments in pieces.
  ASSERT_EQ(
      client.start("/v1/chat/completions", chat("bedrock", kTools + R"(,"stream":true)")).status,
      200u);
  bool done = false;
  const std::vector<json> chunks = chunks_of(read_stream(client), done);
  EXPECT_TRUE(done);
  std::map<int, std::string> arguments;
  std::map<int, std::string> names;
  for (const json& c : chunks) {
    if (c["choices"].empty() || !c["choices"][0]["delta"].contains("tool_calls")) continue;
    for (const json& call : c["choices"][0]["delta"]["tool_calls"]) {
      const int index = call["index"];
      if (call["function"].contains("name")) names[index] = call["function"]["name"];
      arguments[index] += call["function"]["arguments"].get<std::string>();
    }
  }
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[1], "get_time");
  EXPECT_EQ(json::parse(arguments[0]), json::parse(R"({"query":"Fulcrum","limit":1})"));
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls");
}

TEST(Bedrock, StreamsComeInBinaryFramesAndLeaveAsChatChunksWithTheUsageChunkLast) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response head =
      client.start("/v1/chat/completions",
                   chat("bedrock", R"(,"stream":true,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-type"), "text/event-stream");
  bool done = false;
  const std::vector<json> chunks = chunks_of(read_stream(client), done);
  EXPECT_TRUE(done);
  std::string text;
  for (const json& c : chunks) {
    if (!c["choices"].empty()) text += c["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(text, "Fulcrum routes tokens to the cheapest ");
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "stop");
  // The usage came in Bedrock's metadata event, after messageStop.
  EXPECT_EQ(chunks.back()["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(chunks.back()["usage"]["completion_tokens"], 6);
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["outcome"], "success");
  EXPECT_EQ(rows[0]["cost_nano_usd"], 101850);
}

TEST(Bedrock, ImagesGoAsBytesAndUrlsAreRefusedBeforeAnythingIsSent) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response res = client.post(
      "/v1/chat/completions",
      R"({"model":"bedrock","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},)"
      R"({"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]}]})");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(last_body(stack, "bedrock")["messages"][0]["content"][1],
            json::parse(R"({"image":{"format":"jpeg","source":{"bytes":"/9j/4AAQ"}}})"));
  const Response url = client.post(
      "/v1/chat/completions",
      R"({"model":"bedrock","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}]})");
  EXPECT_EQ(url.status, 400u);
  EXPECT_NE(json::parse(url.body)["error"]["message"].get<std::string>().find("base64"),
            std::string::npos);
  EXPECT_EQ(stack.sim_stats()["bedrock"]["requests"], 1);
}

TEST(Bedrock, StopSequencesAndMaxTokensBecomeFinishReasons) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response stopped =
      client.post("/v1/chat/completions", chat("bedrock", R"(,"stop":["the"])"));
  ASSERT_EQ(stopped.status, 200u) << stopped.body;
  EXPECT_EQ(last_body(stack, "bedrock")["inferenceConfig"]["stopSequences"],
            json::parse(R"(["the"])"));
  EXPECT_EQ(json::parse(stopped.body)["choices"][0]["message"]["content"],
            "Fulcrum routes tokens to ");
  EXPECT_EQ(json::parse(stopped.body)["choices"][0]["finish_reason"], "stop");
  const Response cut =
      client.post("/v1/chat/completions", chat("bedrock", R"(,"max_completion_tokens":3)"));
  ASSERT_EQ(cut.status, 200u);
  EXPECT_EQ(json::parse(cut.body)["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(json::parse(cut.body)["usage"]["completion_tokens"], 3);
}

TEST(Bedrock, ThrottlingNotReadyTimeoutsAndModelErrorsFallOverAndBack) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  for (const char* alias : {"throttled-then-gemini", "notready-then-gemini", "timeout-then-gemini",
                            "modelerr-then-gemini"}) {
    const Response res = client.post("/v1/chat/completions", chat(alias));
    ASSERT_EQ(res.status, 200u) << alias << res.body;
    EXPECT_EQ(res.header("x-fulcrum-endpoint"), "gemini") << alias;
  }
  // And back: Gemini's 503 falls over to Bedrock.
  const Response back = client.post("/v1/chat/completions", chat("gemini-then-bedrock"));
  ASSERT_EQ(back.status, 200u) << back.body;
  EXPECT_EQ(back.header("x-fulcrum-endpoint"), "bkeyed");
  // With nowhere else to go: OpenAI's 429 shape with Bedrock's Retry-After; a model timeout
  // is an upstream failure (the gateway's 502 with Bedrock's words), never the client's 408.
  const Response throttled = client.post("/v1/chat/completions", chat("bthrottled"));
  EXPECT_EQ(throttled.status, 429u);
  EXPECT_EQ(json::parse(throttled.body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(throttled.header("retry-after"), "2");
  const Response timeout = client.post("/v1/chat/completions", chat("btimeout"));
  EXPECT_EQ(timeout.status, 502u) << timeout.body;
  EXPECT_EQ(json::parse(timeout.body)["error"]["message"].get<std::string>().rfind("Bedrock: ", 0),
            0u)
      << timeout.body;
}

TEST(Bedrock, AnExceptionMidwayEndsTheStreamWithAnErrorAndIsMetered) {
  Stack stack(kSim, kGateway, kKeys);
  bool done = false;
  const std::vector<json> chunks = streamed(stack, "bmidway", done);
  EXPECT_FALSE(done) << "a failed stream never ends as complete";
  ASSERT_FALSE(chunks.empty());
  EXPECT_TRUE(chunks.back().contains("error")) << chunks.back().dump();
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["outcome"], "upstream_error");
  // Bedrock counts only in its metadata event, which never came: the 3 words relayed
  // ("Fulcrum routes tokens ") are estimated; the prompt too.
  EXPECT_EQ(rows[0]["output_tokens"], api::estimate_usage(0, 22).output);
  EXPECT_GT(rows[0]["input_tokens"].get<int>(), 0);
  EXPECT_EQ(rows[0]["estimated"], 1);
}

TEST(Bedrock, AThrottlingExceptionBeforeAnyContentFallsOverThoughTheUpstreamSaid200) {
  Stack stack(kSim, kGateway, kKeys);
  expect_fall_over_before_content(stack, "bearly-then-gemini", "bearly");
}

TEST(Bedrock, AFrameWithABadCrcIsAnUpstreamFailureNeverRelayed) {
  Stack stack(kSim, kGateway, kKeys);
  bool done = false;
  const std::vector<json> chunks = streamed(stack, "bcorrupt", done);
  EXPECT_FALSE(done);
  std::string text;
  for (const json& c : chunks) {
    if (c.contains("choices") && !c["choices"].empty()) {
      text += c["choices"][0]["delta"].value("content", "");
    }
  }
  // The corrupt frame repeats the third word: never relayed, nor anything after it.
  EXPECT_EQ(text, "Fulcrum routes ");
  ASSERT_FALSE(chunks.empty());
  EXPECT_NE(chunks.back()["error"]["message"].get<std::string>().find("CRC"), std::string::npos)
      << chunks.back().dump();
  EXPECT_EQ(stack.metric("fulcrum_requests_total",
                         {{"endpoint", "bcorrupt"}, {"outcome", "upstream_error"}}),
            1.0);
}

TEST(Bedrock, AStreamCutMidwayIsMeteredForWhatWasRelayed) {
  Stack stack(kSim, kGateway, kKeys);
  // Bedrock reports usage only at the end: the prompt is estimated too.
  EXPECT_EQ(expect_cut_and_metered(stack, "bdropped")["estimated"], 1);
}

TEST(Bedrock, ProvisionedThroughputIsAProvisionedEndpointAddressedByItsModelArn) {
  Stack stack(kSim, kGateway, kKeys);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("bedrock-ptu"));
  ASSERT_EQ(res.status, 200u) << res.body;
  // The ARN travelled as one encoded path segment, was signed encoded twice, and arrived whole.
  EXPECT_EQ(stack.sim_stats()["bedrock"]["last_model_id"],
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz");
  // Already paid for by the hour: no marginal cost; the hour is the economics' business.
  EXPECT_EQ(res.header("x-fulcrum-marginal-cost-usd"), "0");
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["endpoint"], "bedrock-ptu");
  EXPECT_EQ(rows[0]["output_tokens"], 6);
}

// Anthropic's own API, for Anthropic SDK users: the same aliases, keys, budgets and ledger.
constexpr const char* kClientKey = "sk-fulcrum-client-1";

std::string messages_gateway() {
  return std::string(kGateway) + R"(auth: {mode: required}
keys:
  - {id: app, sha256: )" +
         auth::to_hex(auth::sha256(kClientKey)) + R"(, team: search}
)";
}

std::string message_request(const std::string& model, const std::string& extra = "") {
  return R"({"model":")" + model +
         R"(","max_tokens":50,"system":"be brief","messages":[{"role":"user","content":"one two three"}])" +
         extra + "}";
}

const std::map<std::string, std::string> kAnthropicClient = {{"x-api-key", kClientKey},
                                                             {"anthropic-version", "2023-06-01"}};

TEST(Messages, AnAnthropicClientIsRelayedByteForByteAndMeteredPerBucket) {
  Stack stack(kSim, messages_gateway(), kKeys);
  stack.add_secret(kClientKey);
  HttpClient client(stack.port());
  const std::string request = message_request("claude", R"(,"metadata":{"user_id":"u1"})");
  const Response res = client.post("/v1/messages", request, kAnthropicClient);
  ASSERT_EQ(res.status, 200u) << res.body;
  const json body = json::parse(res.body);
  EXPECT_EQ(body["type"], "message");  // Anthropic's shape, as the upstream sent it
  EXPECT_EQ(body["usage"]["cache_creation_input_tokens"], 3);
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "claude");
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), "0.00010185");
  // The client's bytes but the model; its key went nowhere (the sim wants the endpoint's).
  std::string expected = request;
  expected.replace(expected.find("claude"), 6, "claude-sonnet-4-5");
  EXPECT_EQ(stack.sim_stats()["claude"]["last_body"], expected);
  // The newer SDKs' bearer token works too.
  const Response bearer = client.post("/v1/messages", request,
                                      {{"authorization", std::string("Bearer ") + kClientKey}});
  EXPECT_EQ(bearer.status, 200u) << bearer.body;

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["key_id"], "app");
  EXPECT_EQ(rows[0]["input_tokens"], 5);
  EXPECT_EQ(rows[0]["cached_tokens"], 2);
  EXPECT_EQ(rows[0]["cache_write_tokens"], 3);
  EXPECT_EQ(rows[0]["output_tokens"], 6);
  EXPECT_EQ(rows[0]["cost_nano_usd"], 101850);
}

TEST(Messages, AStreamIsRelayedAsAnthropicSentItAndMeteredAtItsEnd) {
  Stack stack(kSim, messages_gateway(), kKeys);
  HttpClient client(stack.port());
  const Response head = client.request(
      "POST", "/v1/messages", message_request("claude", R"(,"stream":true)"), kAnthropicClient);
  ASSERT_EQ(head.status, 200u) << head.body;
  EXPECT_EQ(head.header("content-type"), "text/event-stream");
  EXPECT_EQ(head.body.rfind("event: message_start\n", 0), 0u);
  EXPECT_NE(head.body.find("event: message_stop"), std::string::npos);
  EXPECT_EQ(head.body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(head.body.find("chat.completion"), std::string::npos);
  // A stream that fails after its 200 ends with Anthropic's own error event.
  const Response cut = client.request(
      "POST", "/v1/messages", message_request("cut", R"(,"stream":true)"), kAnthropicClient);
  ASSERT_EQ(cut.status, 200u);
  const std::size_t error = cut.body.find("event: error\ndata: ");
  ASSERT_NE(error, std::string::npos) << cut.body;
  EXPECT_NE(cut.body.find("overloaded_error", error), std::string::npos);
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["output_tokens"], 6);
  EXPECT_EQ(rows[0]["input_tokens"], 5);
  EXPECT_EQ(rows[0]["outcome"], "success");
  EXPECT_EQ(rows[1]["outcome"], "upstream_error");
}

TEST(Messages, ClaudeOnBedrockIsReachedThroughInvokeModelSignedAndMetered) {
  Stack stack(kSim, messages_gateway(), kKeys);
  HttpClient client(stack.port());
  const std::string request = message_request("bedrock");
  const Response res = client.post("/v1/messages", request, kAnthropicClient);
  ASSERT_EQ(res.status, 200u) << res.body;
  const json body = json::parse(res.body);
  EXPECT_EQ(body["type"], "message");  // Anthropic's shape, as Bedrock sent it
  EXPECT_EQ(body["usage"]["cache_creation_input_tokens"], 3);
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "bedrock");
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), "0.00010185");
  // InvokeModel's body: Bedrock's anthropic_version, no model (it is in the path), the rest as
  // the client wrote it.
  EXPECT_EQ(
      stack.sim_stats()["bedrock"]["last_body"],
      R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"system":"be brief","messages":[{"role":"user","content":"one two three"}]})");
  EXPECT_EQ(stack.sim_stats()["bedrock"]["last_model_id"], "anthropic.claude-sonnet-4-5-v1:0");

  // Streamed: Bedrock's base64 chunks leave as Anthropic's own SSE events.
  const Response stream = client.request(
      "POST", "/v1/messages", message_request("bedrock", R"(,"stream":true)"), kAnthropicClient);
  ASSERT_EQ(stream.status, 200u) << stream.body;
  EXPECT_EQ(stream.header("content-type"), "text/event-stream");
  EXPECT_EQ(stream.body.rfind("event: message_start\ndata: {", 0), 0u) << stream.body;
  EXPECT_NE(stream.body.find("event: content_block_delta"), std::string::npos);
  EXPECT_NE(stream.body.find("event: message_stop"), std::string::npos);
  EXPECT_EQ(stream.body.find("chat.completion"), std::string::npos);
  EXPECT_FALSE(
      json::parse(stack.sim_stats()["bedrock"]["last_body"].get<std::string>()).contains("stream"));

  // Failures in Anthropic's shape: a throttled refusal, and an exception midway.
  const Response throttled =
      client.post("/v1/messages", message_request("claude-throttled"), kAnthropicClient);
  EXPECT_EQ(throttled.status, 429u);
  EXPECT_EQ(json::parse(throttled.body)["type"], "error");
  EXPECT_EQ(json::parse(throttled.body)["error"]["type"], "rate_limit_error");
  const Response midway =
      client.request("POST", "/v1/messages", message_request("claude-midway", R"(,"stream":true)"),
                     kAnthropicClient);
  ASSERT_EQ(midway.status, 200u);
  const std::size_t error = midway.body.find("event: error\ndata: ");
  ASSERT_NE(error, std::string::npos) << midway.body;
  EXPECT_EQ(midway.body.find("message_stop"), std::string::npos);
  // A model that is not Claude takes no Anthropic body: refused before anything is sent.
  const double nova_requests = stack.sim_stats()["bmidway"]["requests"].get<double>();
  const Response nova = client.post("/v1/messages", message_request("bmidway"), kAnthropicClient);
  EXPECT_EQ(nova.status, 400u);
  EXPECT_EQ(json::parse(nova.body)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(stack.sim_stats()["bmidway"]["requests"].get<double>(), nova_requests);

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 5u);
  for (int i : {0, 1}) {
    EXPECT_EQ(rows[i]["input_tokens"], 5) << i;
    EXPECT_EQ(rows[i]["cache_write_tokens"], 3) << i;
    EXPECT_EQ(rows[i]["output_tokens"], 6) << i;
    EXPECT_EQ(rows[i]["outcome"], "success") << i;
  }
  EXPECT_EQ(rows[3]["outcome"], "upstream_error");
}

TEST(Messages, EveryRefusalIsInAnthropicsShape) {
  Stack stack(kSim, messages_gateway(), kKeys);
  HttpClient client(stack.port());
  const auto error_type = [](const Response& r) {
    const json body = json::parse(r.body);
    EXPECT_EQ(body["type"], "error") << r.body;
    return body["error"]["type"].get<std::string>();
  };
  const Response no_key = client.post("/v1/messages", message_request("claude"));
  EXPECT_EQ(no_key.status, 401u);
  EXPECT_EQ(error_type(no_key), "authentication_error");
  const Response unknown = client.post("/v1/messages", message_request("nope"), kAnthropicClient);
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(error_type(unknown), "not_found_error");
  const Response no_max = client.post(
      "/v1/messages", R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})",
      kAnthropicClient);
  EXPECT_EQ(no_max.status, 400u);
  EXPECT_EQ(error_type(no_max), "invalid_request_error");
  // An alias with no Anthropic target cannot take Anthropic's API.
  const Response wrong_wire =
      client.post("/v1/messages", message_request("gemini"), kAnthropicClient);
  EXPECT_EQ(wrong_wire.status, 400u);
  EXPECT_EQ(error_type(wrong_wire), "invalid_request_error");
  // The upstream's own 429 passes through as Anthropic wrote it, Retry-After included.
  const Response limited =
      client.post("/v1/messages", message_request("limited"), kAnthropicClient);
  EXPECT_EQ(limited.status, 429u);
  EXPECT_EQ(error_type(limited), "rate_limit_error");
  EXPECT_EQ(limited.header("retry-after"), "1");
}

}  // namespace
}  // namespace fulcrum::testing
