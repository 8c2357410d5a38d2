// The gateway and fulcrum-sim as real processes on free ports, driven over real sockets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../support/http_client.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

// Two fast endpoints and their gateway config; tests add what they need.
constexpr const char* kSim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, cached_tokens: 2}
  cloud: {listen: 127.0.0.1:0, cached_tokens: 2}
)";

constexpr const char* kGateway = R"(endpoints:
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 2.0
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing:
      gpt-4o-mini: {input: 0.15, cached_input: 0.075, output: 0.60}
      embed-small: {input: 0.02, output: 0}
models:
  llama-8b: {targets: [gpu/meta-llama/Llama-3.1-8B-Instruct, cloud/gpt-4o-mini]}
  mini: {targets: [cloud/gpt-4o-mini]}
  embed: {targets: [cloud/embed-small]}
)";

std::string chat(const std::string& model, int max_tokens, bool stream = false,
                 const std::string& extra = "") {
  return R"({"model":")" + model + R"(","max_tokens":)" + std::to_string(max_tokens) +
         (stream ? R"(,"stream":true)" : "") + extra +
         R"(,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"one two three"}]})";
}

// The SSE data payloads of a whole stream body, in order.
std::vector<std::string> data_lines(const std::string& body) {
  std::vector<std::string> out;
  for (std::size_t at = body.find("data: "); at != std::string::npos;
       at = body.find("data: ", at + 1)) {
    out.push_back(body.substr(at + 6, body.find('\n', at) - at - 6));
  }
  return out;
}

TEST(Proxy, PlainChatIsServedByTheFirstTargetWithUsageAndCostHeaders) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("mini", 7));
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(res.header("x-fulcrum-request-id").size(), 24u);
  const json body = json::parse(res.body);
  EXPECT_EQ(body["model"], "gpt-4o-mini");  // the upstream name, as OpenAI would answer
  EXPECT_EQ(body["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(body["usage"]["completion_tokens"], 7);
  // 3 uncached × 0.15 + 2 cached × 0.075 + 7 × 0.60 USD per 1M tokens.
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), "0.0000048");
}

TEST(Proxy, StreamedChatArrivesIncrementallyAndHidesTheUsageChunkNobodyAskedFor) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0}
  cloud: {listen: 127.0.0.1:0, ttft: 10ms, tokens_per_second: 25}
)";
  Stack stack(sim, kGateway);
  HttpClient client(stack.port());
  const Response head = client.start("/v1/chat/completions", chat("mini", 25, true));
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-type"), "text/event-stream");
  EXPECT_EQ(head.header("x-fulcrum-endpoint"), "cloud");
  const auto first = client.next_piece();
  ASSERT_TRUE(first);
  EXPECT_NE(first->find("data: "), std::string::npos);
  // The first chunk is here while the simulated model is still generating the rest.
  EXPECT_EQ(stack.sim_stats()["cloud"]["streams_active"], 1);

  std::string body = *first;
  while (auto piece = client.next_piece()) body += *piece;
  EXPECT_FALSE(client.broken());
  const auto events = data_lines(body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (const auto& e : events) {
    if (e == "[DONE]") continue;
    const json chunk = json::parse(e);
    EXPECT_FALSE(chunk["choices"].empty()) << "usage-only chunk leaked: " << e;
    if (!chunk["choices"][0]["delta"].value("content", "").empty())
      text += chunk["choices"][0]["delta"]["content"];
  }
  EXPECT_EQ(text.substr(0, 24), "Fulcrum routes tokens to");
  // Fulcrum asked for usage on the client's behalf and metered it.
  EXPECT_EQ(stack.metric("fulcrum_tokens_total",
                         {{"endpoint", "cloud"}, {"model", "gpt-4o-mini"}, {"type", "output"}}),
            25);
}

TEST(Proxy, StreamedUsageChunkIsPassedOnWhenTheClientAskedForIt) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response head =
      client.start("/v1/chat/completions",
                   chat("llama-8b", 3, true, R"(,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("x-fulcrum-endpoint"), "gpu");
  std::string body;
  while (auto piece = client.next_piece()) body += *piece;
  const auto events = data_lines(body);
  ASSERT_GE(events.size(), 2u);
  const json usage_chunk = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 3);
}

TEST(Proxy, Http10ClientsGetTheStreamDelimitedByClose) {
  Stack stack(kSim, kGateway);
  const std::string body = chat("mini", 3, true);
  const std::string raw =
      raw_exchange(stack.port(),
                   "POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                   "Content-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_TRUE(raw.starts_with("HTTP/1.0 200 OK\r\n")) << raw;
  const std::string head = raw.substr(0, raw.find("\r\n\r\n"));
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos);  // HTTP/1.0 has no chunking
  const auto events = data_lines(raw.substr(head.size() + 4));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[1])["choices"][0]["delta"]["content"], "Fulcrum ");
}

TEST(Proxy, LegacyCompletionsEmbeddingsAndModelsWork) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  Response res =
      client.post("/v1/completions", R"({"model":"mini","prompt":"say hi","max_tokens":2})");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["object"], "text_completion");
  EXPECT_EQ(json::parse(res.body)["choices"][0]["text"], "Fulcrum routes ");

  res = client.post("/v1/embeddings", R"({"model":"embed","input":["a b c","d"]})");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(json::parse(res.body)["data"].size(), 2u);
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), "0.00000008");  // 4 tokens × 0.02 USD / 1M

  res = client.get("/v1/models");
  ASSERT_EQ(res.status, 200u);
  const json models = json::parse(res.body);
  EXPECT_EQ(models["object"], "list");
  std::vector<std::string> ids;
  for (const auto& m : models["data"]) ids.push_back(m["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"llama-8b", "mini", "embed"}));
}

TEST(Proxy, MetricsCountExactTokensAndDollarsAfterAKnownSetOfRequests) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(client.post("/v1/chat/completions", chat("mini", 10)).status, 200u);
  ASSERT_EQ(client.post("/v1/chat/completions", chat("llama-8b", 4)).status, 200u);
  const Response stream = client.start("/v1/chat/completions", chat("mini", 6, true));
  ASSERT_EQ(stream.status, 200u);
  while (client.next_piece()) {
  }
  ASSERT_EQ(client.post("/v1/chat/completions", chat("nope", 1)).status, 404u);

  const std::string m = stack.metrics();
  // cloud/gpt-4o-mini: 4 requests × 5 prompt tokens (2 cached), 3 × 10 + 6 output tokens.
  EXPECT_EQ(metric_value(m, "fulcrum_tokens_total",
                         {{"endpoint", "cloud"}, {"model", "gpt-4o-mini"}, {"type", "input"}}),
            20);
  EXPECT_EQ(metric_value(m, "fulcrum_tokens_total",
                         {{"endpoint", "cloud"}, {"model", "gpt-4o-mini"}, {"type", "cached"}}),
            8);
  EXPECT_EQ(metric_value(m, "fulcrum_tokens_total",
                         {{"endpoint", "cloud"}, {"model", "gpt-4o-mini"}, {"type", "output"}}),
            36);
  EXPECT_EQ(metric_value(m, "fulcrum_tokens_total", {{"endpoint", "gpu"}, {"type", "output"}}), 4);
  // 12 uncached × 0.15 + 8 cached × 0.075 + 36 × 0.60 USD per 1M = 0.000024 USD.
  EXPECT_DOUBLE_EQ(
      *metric_value(m, "fulcrum_cost_usd_total", {{"endpoint", "cloud"}, {"model", "gpt-4o-mini"}}),
      0.000024);
  EXPECT_EQ(metric_value(m, "fulcrum_cost_usd_total", {{"endpoint", "gpu"}}), 0);
  EXPECT_EQ(metric_value(m, "fulcrum_requests_total",
                         {{"model", "mini"}, {"endpoint", "cloud"}, {"outcome", "success"}}),
            4);
  EXPECT_EQ(metric_value(m, "fulcrum_requests_total",
                         {{"model", "llama-8b"}, {"endpoint", "gpu"}, {"outcome", "success"}}),
            1);
  EXPECT_EQ(metric_value(m, "fulcrum_requests_total",
                         {{"model", "none"}, {"endpoint", "none"}, {"outcome", "client_error"}}),
            1);
  EXPECT_EQ(metric_value(m, "fulcrum_request_duration_seconds_count", {{"model", "mini"}}), 4);
  EXPECT_EQ(metric_value(m, "fulcrum_time_to_first_token_seconds_count", {{"model", "mini"}}), 4);
  EXPECT_EQ(metric_value(m, "fulcrum_endpoint_in_flight", {{"endpoint", "cloud"}}), 0);
  EXPECT_EQ(metric_value(m, "fulcrum_build_info", {}), 1);
}

TEST(Fallback, RefusedConnectionMovesToTheNextTarget) {
  std::string gateway = kGateway;
  gateway.replace(gateway.find("http://${gpu}"), 13, "http://${closed}");
  Stack stack(kSim, gateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("llama-8b", 2));
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(stack.metric("fulcrum_fallbacks_total",
                         {{"from", "gpu"}, {"to", "cloud"}, {"reason", "connect"}}),
            1);
}

class FallbackOnStatus : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(FallbackOnStatus, UpstreamErrorMovesToTheNextTarget) {
  const std::string sim = std::string("endpoints:\n  gpu: {listen: 127.0.0.1:0, ") +
                          GetParam().first + "}\n  cloud: {listen: 127.0.0.1:0}\n";
  Stack stack(sim, kGateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("llama-8b", 2));
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(
      stack.metric("fulcrum_fallbacks_total", {{"from", "gpu"}, {"reason", GetParam().second}}), 1);
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], 1);
}

INSTANTIATE_TEST_SUITE_P(Statuses, FallbackOnStatus,
                         ::testing::Values(std::pair{"fail_status: 500", "status_5xx"},
                                           std::pair{"fail_status: 503", "status_5xx"},
                                           std::pair{"rate_429: 1.0", "status_429"}));

TEST(Fallback, NeverAfterTheFirstStreamedByte) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, cut_after_chunks: 2}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim, kGateway);
  HttpClient client(stack.port());
  const Response head = client.start("/v1/chat/completions", chat("llama-8b", 10, true));
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("x-fulcrum-endpoint"), "gpu");
  std::string body;
  while (auto piece = client.next_piece()) body += *piece;
  const auto events = data_lines(body);
  ASSERT_FALSE(events.empty());
  // The cut is reported in-band in OpenAI's error shape, and the stream does not claim [DONE].
  EXPECT_EQ(json::parse(events.back())["error"]["code"], "upstream_error");
  EXPECT_EQ(body.find("[DONE]"), std::string::npos);
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 0);
  EXPECT_EQ(
      stack.metric("fulcrum_requests_total", {{"endpoint", "gpu"}, {"outcome", "upstream_error"}}),
      1);
}

TEST(Fallback, AllTargetsFailingGives502NamingEachFailureWithTheUpstreamsMessage) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, fail_status: 500}
  cloud: {listen: 127.0.0.1:0, fail_status: 503}
)";
  Stack stack(sim, kGateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("llama-8b", 2));
  ASSERT_EQ(res.status, 502u);
  const json error = json::parse(res.body)["error"];
  EXPECT_EQ(error["type"], "api_error");
  EXPECT_EQ(error["code"], "upstream_error");
  // The last upstream's own words, then Fulcrum's summary naming each failure.
  const std::string message = error["message"];
  EXPECT_EQ(message.rfind("injected failure (Fulcrum: ", 0), 0u) << message;
  EXPECT_NE(message.find("gpu: HTTP 500; cloud: HTTP 503"), std::string::npos) << message;
  // Counted under the alias, so an outage shows in the errors of that model.
  EXPECT_EQ(
      stack.metric("fulcrum_requests_total",
                   {{"model", "llama-8b"}, {"endpoint", "none"}, {"outcome", "upstream_error"}}),
      1);
}

// When the failures include a 429, the client gets the upstream's 429: its body, its headers
// and the soonest Retry-After any 429 asked for, so SDKs back off as the provider asked.
TEST(Fallback, A429AmongTheFailuresIsPassedOnAsThe429) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, fail_status: 500}
  cloud: {listen: 127.0.0.1:0, rate_429: 1.0, retry_after: 20}
)";
  Stack stack(sim, kGateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", chat("llama-8b", 2));
  ASSERT_EQ(res.status, 429u) << res.body;
  EXPECT_EQ(json::parse(res.body)["error"]["message"], "Rate limit reached (injected).");
  EXPECT_EQ(json::parse(res.body)["error"]["type"], "rate_limit_error");
  EXPECT_EQ(res.header("retry-after"), "20");
  EXPECT_EQ(res.header("retry-after-ms"), "20000");
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(
      stack.metric("fulcrum_requests_total",
                   {{"model", "llama-8b"}, {"endpoint", "none"}, {"outcome", "upstream_error"}}),
      1);
}

// What the client sent is what the upstream gets, byte for byte, but for the model: a schema
// whose properties are {reasoning, answer} is generated reasoning first.
TEST(Upstream, ReceivesTheClientsBodyByteForByteButTheModel) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const std::string schema =
      R"({"model": "mini", "max_tokens": 3, "response_format": {"type": "json_schema", )"
      R"("json_schema": {"name": "a", "schema": {"type": "object", "properties": )"
      R"({"reasoning": {"type": "string"}, "answer": {"type": "string"}}}}},)"
      "\n  \"temperature\": 1.0, \"metadata\": {\"z\": \"1\", \"a\": \"\\u00e9\"}, "
      R"("messages": [{"role": "user", "content": "one two"}]})";
  ASSERT_EQ(client.post("/v1/chat/completions", schema).status, 200u);
  std::string expected = schema;
  expected.replace(expected.find(R"("mini")"), 6, R"("gpt-4o-mini")");
  EXPECT_EQ(stack.sim_stats()["cloud"]["last_body"], expected);
}

// The headers clients read come from the upstream that answered; set-cookie never does.
TEST(Upstream, HeadersClientsReadArePassedOnAndSetCookieIsNot) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response plain = client.post("/v1/chat/completions", chat("mini", 2));
  EXPECT_EQ(plain.header("x-request-id"), "req_sim_0");
  EXPECT_EQ(plain.header("x-ratelimit-remaining-requests"), "99");
  EXPECT_EQ(plain.header("openai-processing-ms"), "1");
  EXPECT_EQ(plain.header("set-cookie"), "");
  HttpClient streamer(stack.port());
  const Response stream = streamer.start("/v1/chat/completions", chat("mini", 2, true));
  EXPECT_EQ(stream.header("x-request-id"), "req_sim_1");
  EXPECT_EQ(stream.header("set-cookie"), "");
  while (streamer.next_piece()) {
  }
}

TEST(Models, OneModelIsRetrievedByItsAliasAndAnUnknownOneIs404) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response known = client.get("/v1/models/llama-8b");
  ASSERT_EQ(known.status, 200u);
  EXPECT_EQ(json::parse(known.body),
            json::parse(R"({"id":"llama-8b","object":"model","created":0,"owned_by":"fulcrum"})"));
  const Response unknown = client.get("/v1/models/no-such-model");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "model_not_found");
  const Response wrong = client.get("/v1/nothing");
  EXPECT_EQ(wrong.status, 404u);
  EXPECT_NE(json::parse(wrong.body)["error"]["message"].get<std::string>().find(
                "Fulcrum serves POST /v1/chat/completions"),
            std::string::npos);
}

TEST(Upstream, ReceivesTheEndpointKeyAndItsEchoIsScrubbedFromErrors) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, api_key: sk-right-key}
  cloud: {listen: 127.0.0.1:0, api_key: sk-other-key}
)";
  std::string gateway = kGateway;
  gateway.insert(gateway.find("    hourly_usd"), "    api_key_env: GPU_KEY\n");
  gateway.insert(gateway.find("    pricing"), "    api_key_env: CLOUD_KEY\n");
  Stack stack(sim, gateway, {{"GPU_KEY", "sk-right-key"}, {"CLOUD_KEY", "sk-wrong-canary-key"}});
  HttpClient client(stack.port());
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama-8b", 2)).status, 200u);

  // cloud rejects the key and quotes it back: the client gets the 401, never the key.
  const Response res = client.post("/v1/chat/completions", chat("mini", 2));
  EXPECT_EQ(res.status, 401u);
  EXPECT_EQ(res.body.find("sk-wrong-canary-key"), std::string::npos) << res.body;
  EXPECT_NE(res.body.find("[redacted]"), std::string::npos);
  for (const auto& line : stack.gateway().lines()) {
    EXPECT_EQ(line.find("sk-wrong-canary-key"), std::string::npos) << line;
  }
  EXPECT_EQ(stack.metrics().find("sk-wrong-canary-key"), std::string::npos);
}

TEST(Errors, ClientMistakesGetOpenAiShapedErrorsWithTheRightStatus) {
  Stack stack(kSim,
              kGateway + std::string("server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n"
                                     "  limits: {max_body_bytes: 4096, max_header_bytes: 2048}\n"));
  HttpClient client(stack.port());
  struct Case {
    std::string method, target, body;
    unsigned status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"POST", "/v1/chat/completions", chat("no-such-model", 1), 404, "model_not_found"},
      {"POST", "/v1/chat/completions", "{not json", 400, ""},
      {"POST", "/v1/chat/completions", R"({"messages":[]})", 400, ""},
      {"GET", "/v1/chat/completions", "", 405, "method_not_allowed"},
      {"POST", "/v1/models", "{}", 405, "method_not_allowed"},
      {"POST", "/v1/nothing", "{}", 404, "unknown_url"},
      {"POST", "/v1/embeddings", R"({"model":"embed","input":"x","stream":true})", 400, ""},
      // Fields of the wrong JSON type: a 400 naming the field, never a dropped connection
      // (a string stream_options once made the upstream body builder throw).
      {"POST", "/v1/chat/completions", chat("mini", 1, true, R"(,"stream_options":"x")"), 400,
       "invalid_type"},
      {"POST", "/v1/chat/completions", chat("mini", 1, true, R"(,"stream_options":1)"), 400,
       "invalid_type"},
      {"POST", "/v1/chat/completions", chat("mini", 1, true, R"(,"stream_options":[])"), 400,
       "invalid_type"},
      {"POST", "/v1/chat/completions",
       R"({"model":"mini","max_tokens":18446744073709551615,"messages":[]})", 400,
       "integer_above_max_value"},
      {"POST", "/v1/chat/completions", R"({"model":"mini","max_tokens":1e308,"messages":[]})", 400,
       "invalid_type"},
      {"POST", "/v1/chat/completions", R"({"model":"mini","messages":"hi"})", 400, "invalid_type"},
  };
  for (const Case& c : cases) {
    const Response res = client.request(c.method, c.target, c.body);
    EXPECT_EQ(res.status, c.status) << c.method << " " << c.target << " " << c.body;
    const json error = json::parse(res.body)["error"];
    EXPECT_TRUE(error["message"].is_string());
    EXPECT_TRUE(error["type"].is_string());
    if (!c.code.empty()) {
      EXPECT_EQ(error["code"], c.code);
    }
  }
  // The same keep-alive connection still serves: no case above dropped it.
  EXPECT_EQ(client.post("/v1/chat/completions", chat("mini", 1)).status, 200u);

  const std::string big(5000, 'x');
  const Response too_big =
      HttpClient(stack.port())
          .post("/v1/chat/completions", R"({"model":"mini","pad":")" + big + "\"}");
  EXPECT_EQ(too_big.status, 413u);
  EXPECT_EQ(json::parse(too_big.body)["error"]["code"], "request_too_large");

  const std::string huge_header =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(3000, 'y') +
      "\r\n\r\n";
  EXPECT_EQ(status_of(raw_exchange(stack.port(), huge_header)), 431u);
}

TEST(Errors, AmbiguousFramingIsRejected) {
  Stack stack(kSim, kGateway);
  const std::string both =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  EXPECT_EQ(status_of(raw_exchange(stack.port(), both)), 400u);
  const std::string gzip_te =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, "
      "chunked\r\n\r\n0\r\n\r\n";
  EXPECT_EQ(status_of(raw_exchange(stack.port(), gzip_te)), 400u);
}

TEST(Connections, ClientKeepAliveCarriesManyRequestsAndUpstreamConnectionsAreReused) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(client.post("/v1/chat/completions", chat("mini", 1)).status, 200u);
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 20);
  EXPECT_EQ(stack.metric("fulcrum_requests_total",
                         {{"model", "mini"}, {"endpoint", "cloud"}, {"outcome", "success"}}),
            20);
}

TEST(Admin, HealthAndReadinessAnswer) {
  Stack stack(kSim, kGateway);
  HttpClient admin(stack.admin_port());
  EXPECT_EQ(admin.get("/healthz").status, 200u);
  EXPECT_EQ(admin.get("/readyz").status, 200u);
  const Response metrics = admin.get("/metrics");
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_NE(metrics.header("content-type").find("text/plain"), std::string::npos);
  EXPECT_EQ(admin.get("/nope").status, 404u);
  // The admin plane is not reachable through the data port.
  EXPECT_EQ(HttpClient(stack.port()).get("/metrics").status, 404u);
}

}  // namespace
}  // namespace fulcrum::testing
