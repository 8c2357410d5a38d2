// The Responses API through the gateway, against fulcrum-sim's: plain and streamed responses
// metered from the usage they report, calls on a stored response sent to the endpoint that
// stored it and only for the key that made it, and the endpoints' `apis` honoured.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "fulcrum/auth/authenticator.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;
using Headers = std::map<std::string, std::string>;

constexpr const char* kSim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0}
  cloud: {listen: 127.0.0.1:0, cached_tokens: 1}
  chat:  {listen: 127.0.0.1:0}
)";

// `gpu` is provisioned, so the router prefers it for `both`; `chat-only` serves Chat
// Completions alone, like a vLLM build without the Responses API.
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
  chat-only:
    kind: serverless
    base_url: http://${chat}/v1
    apis: [chat, completions]
    pricing:
      m: {input: 0.01, output: 0.01}
models:
  mini: {targets: [cloud/gpt-4o-mini]}
  both: {targets: [gpu/llama, cloud/gpt-4o-mini]}
  local: {targets: [gpu/llama]}
  chat-first: {targets: [chat-only/m, cloud/gpt-4o-mini]}
  chat-model: {targets: [chat-only/m]}
)";

std::string respond(const std::string& model, int max_output_tokens,
                    const std::string& extra = "") {
  return R"({"model":")" + model + R"(","max_output_tokens":)" + std::to_string(max_output_tokens) +
         extra +
         R"(,"instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"one two three"}]}]})";
}

// The (event, data) pairs of a whole Responses API stream.
std::vector<std::pair<std::string, json>> events_of(const std::string& body) {
  std::vector<std::pair<std::string, json>> out;
  std::size_t at = 0;
  while ((at = body.find("event: ", at)) != std::string::npos) {
    const std::size_t end = body.find('\n', at);
    const std::string type = body.substr(at + 7, end - at - 7);
    const std::size_t data = body.find("data: ", end);
    const std::size_t data_end = body.find('\n', data);
    out.emplace_back(type, json::parse(body.substr(data + 6, data_end - data - 6)));
    at = data_end;
  }
  return out;
}

std::string read_stream(HttpClient& client) {
  std::string body;
  while (auto piece = client.next_piece()) body += *piece;
  return body;
}

// kSim's endpoints (cloud without cached tokens) with faults added to gpu and cloud.
std::string sim_with(std::string_view gpu_faults, std::string_view cloud_faults) {
  const auto endpoint = [](std::string_view faults) {
    return "{listen: 127.0.0.1:0" + (faults.empty() ? "" : ", " + std::string(faults)) + "}";
  };
  return "endpoints:\n  gpu: " + endpoint(gpu_faults) + "\n  cloud: " + endpoint(cloud_faults) +
         "\n  chat: {listen: 127.0.0.1:0}\n";
}

// The events of a streamed response for `mini` (6 words asked for).
std::vector<std::pair<std::string, json>> stream_mini(HttpClient& client) {
  EXPECT_EQ(client.start("/v1/responses", respond("mini", 6, R"(,"stream":true)")).status, 200u);
  return events_of(read_stream(client));
}

TEST(Responses, APlainResponseIsRelayedAsIsAndMeteredFromItsUsage) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const std::string request = respond("mini", 5, R"(,"metadata":{"b":1,"a":2})");
  const Response res = client.post("/v1/responses", request);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  const json body = json::parse(res.body);
  EXPECT_EQ(body["object"], "response");
  EXPECT_EQ(body["id"], "resp_cloud_0");
  EXPECT_EQ(body["output"][0]["content"][0]["text"], "Fulcrum routes tokens to the ");
  // "be brief" and "one two three": 5 input tokens (1 cached), 5 output.
  EXPECT_EQ(body["usage"]["input_tokens"], 5);
  EXPECT_EQ(body["usage"]["output_tokens"], 5);
  // 4 uncached × 0.15 + 1 cached × 0.075 + 5 × 0.60 USD per 1M tokens.
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), "0.000003675");
  // The upstream got the client's bytes but the model, and no stream_options added.
  std::string expected = request;
  expected.replace(expected.find("mini"), 4, "gpt-4o-mini");
  EXPECT_EQ(stack.sim_stats()["cloud"]["last_body"], expected);
  EXPECT_EQ(stack.metric("fulcrum_tokens_total", {{"endpoint", "cloud"}, {"type", "output"}}), 5.0);
  EXPECT_EQ(stack.metric("fulcrum_tokens_total", {{"endpoint", "cloud"}, {"type", "cached"}}), 1.0);

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["input_tokens"], 5);
  EXPECT_EQ(rows[0]["output_tokens"], 5);
  EXPECT_EQ(rows[0]["cost_nano_usd"], 4 * 150 + 75 + 5 * 600);
  EXPECT_EQ(rows[0]["estimated"], 0);
}

TEST(Responses, AStreamArrivesEventByEventAndIsMeteredOnceFromTheCompletedEvent) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const std::string request = respond("mini", 3, R"(,"stream":true)");
  const Response head = client.start("/v1/responses", request);
  ASSERT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-type"), "text/event-stream");
  const std::string body = read_stream(client);
  const auto events = events_of(body);
  ASSERT_EQ(events.size(), 4u + 3u + 4u) << body;
  EXPECT_EQ(events.front().first, "response.created");
  EXPECT_EQ(events.back().first, "response.completed");
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].second["type"], events[i].first);
    EXPECT_EQ(events[i].second["sequence_number"], i);
  }
  EXPECT_EQ(body.find("[DONE]"), std::string::npos);  // the Responses API has none
  EXPECT_EQ(events.back().second["response"]["usage"]["output_tokens"], 3);
  // Nothing was added to the request: the Responses API reports usage unasked.
  std::string expected = request;
  expected.replace(expected.find("mini"), 4, "gpt-4o-mini");
  EXPECT_EQ(stack.sim_stats()["cloud"]["last_body"], expected);

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["input_tokens"], 5);
  EXPECT_EQ(rows[0]["cached_tokens"], 1);
  EXPECT_EQ(rows[0]["output_tokens"], 3);
  EXPECT_EQ(rows[0]["outcome"], "success");
  EXPECT_EQ(rows[0]["estimated"], 0);
}

TEST(Responses, AStreamCutByTheUpstreamEndsWithAnErrorEventEverySdkRaises) {
  Stack stack(sim_with("", "cut_after_chunks: 2"), kGateway);
  HttpClient client(stack.port());
  const auto events = stream_mini(client);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().first, "error");
  const json& error = events.back().second;
  // Flat (as the Responses API's error event) and nested (as older SDKs read errors).
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["code"], "upstream_error");
  EXPECT_FALSE(error["message"].get<std::string>().empty());
  EXPECT_EQ(error["error"]["message"], error["message"]);
  EXPECT_EQ(events[events.size() - 2].first, "response.output_text.delta");

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["outcome"], "upstream_error");
  // No usage came: what was relayed is estimated, and said to be.
  EXPECT_EQ(rows[0]["estimated"], 1);
  EXPECT_GT(rows[0]["output_tokens"].get<int>(), 0);
}

// OpenAI ends a generation that failed midway with response.failed. It is relayed as sent,
// metered as an upstream error from the usage it reports, and not pinned: nothing to continue.
TEST(Responses, AStreamThatFailsUpstreamIsMeteredAsAnUpstreamErrorAndNotPinned) {
  Stack stack(sim_with("", "failed_after_chunks: 2"), kGateway);
  HttpClient client(stack.port());
  const auto events = stream_mini(client);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().first, "response.failed");
  const json& failed = events.back().second["response"];
  EXPECT_EQ(failed["status"], "failed");
  EXPECT_EQ(failed["usage"]["output_tokens"], 2);
  const std::string id = failed["id"];
  const Response got = client.get("/v1/responses/" + id);
  EXPECT_EQ(got.status, 404u);
  // Fulcrum's own answer (no pin), not the upstream's: no endpoint was asked.
  EXPECT_EQ(json::parse(got.body)["error"]["code"], "response_not_found");
  EXPECT_EQ(got.header("x-fulcrum-endpoint"), "");
  const Response next =
      client.post("/v1/responses", respond("mini", 1, R"(,"previous_response_id":")" + id + "\""));
  EXPECT_EQ(next.status, 404u);

  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 1u);  // the refused follow-up reached no upstream: no tokens, no row
  EXPECT_EQ(rows[0]["outcome"], "upstream_error");
  EXPECT_EQ(rows[0]["output_tokens"], 2);
  EXPECT_EQ(rows[0]["estimated"], 0);
}

// "store": false asks the upstream not to keep the response: there is nothing to pin, and no
// room in the pins is spent on it.
TEST(Responses, AResponseNotStoredIsNotPinned) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/responses", respond("mini", 1, R"(,"store":false)"));
  ASSERT_EQ(res.status, 200u) << res.body;
  const std::string id = json::parse(res.body)["id"];
  const auto cloud_requests = stack.sim_stats()["cloud"]["requests"].get<int>();
  const Response got = client.get("/v1/responses/" + id);
  EXPECT_EQ(got.status, 404u);
  EXPECT_EQ(json::parse(got.body)["error"]["code"], "response_not_found");
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], cloud_requests);  // answered by Fulcrum
  const Response stored = client.post("/v1/responses", respond("mini", 1));
  EXPECT_EQ(client.get("/v1/responses/" + json::parse(stored.body)["id"].get<std::string>()).status,
            200u);
}

TEST(Responses, AFollowUpReachesTheEndpointThatStoredTheResponseItContinues) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response first = client.post("/v1/responses", respond("mini", 2));
  ASSERT_EQ(first.status, 200u) << first.body;
  const std::string id = json::parse(first.body)["id"];

  // `both` prefers the provisioned gpu, but only cloud has the conversation.
  const Response plain = client.post("/v1/responses", respond("both", 1));
  EXPECT_EQ(plain.header("x-fulcrum-endpoint"), "gpu");
  const Response next =
      client.post("/v1/responses", respond("both", 1, R"(,"previous_response_id":")" + id + "\""));
  ASSERT_EQ(next.status, 200u) << next.body;
  EXPECT_EQ(next.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(next.header("x-fulcrum-reason"), "pinned:previous_response");
  // The sim bills the stored conversation (5 in + 2 out) as input again, as OpenAI does.
  EXPECT_EQ(json::parse(next.body)["usage"]["input_tokens"], 5 + 7);

  // An alias with no target on that endpoint cannot continue it: to that model, the response
  // does not exist.
  const Response elsewhere =
      client.post("/v1/responses", respond("local", 1, R"(,"previous_response_id":")" + id + "\""));
  EXPECT_EQ(elsewhere.status, 404u);
  EXPECT_EQ(json::parse(elsewhere.body)["error"]["code"], "previous_response_not_found");
  EXPECT_EQ(json::parse(elsewhere.body)["error"]["param"], "previous_response_id");
  EXPECT_NE(elsewhere.body.find("'cloud'"), std::string::npos) << elsewhere.body;

  const Response unknown = client.post(
      "/v1/responses", respond("both", 1, R"(,"previous_response_id":"resp_never_made")"));
  EXPECT_EQ(unknown.status, 404u);
  const json error = json::parse(unknown.body)["error"];
  EXPECT_EQ(error["code"], "previous_response_not_found");
  EXPECT_EQ(error["param"], "previous_response_id");
  EXPECT_EQ(error["type"], "invalid_request_error");
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], 1);  // neither refusal reached an upstream
}

// The first turn was served by a route's fallback alias (the gpu failed); the next turn asks
// for the same alias, whose own targets never reach the endpoint that stored it, and goes the
// way the first went.
TEST(Responses, AFollowUpForTheSameAliasGoesTheWayTheFirstTurnWent) {
  const std::string sim = sim_with("fail_status: 503", "");
  const std::string gateway = std::string(kGateway) + R"(routes:
  - name: local-falls-back
    match: {model: [local]}
    fallback: [mini]
)";
  Stack stack(sim, gateway);
  HttpClient client(stack.port());
  const Response first = client.post("/v1/responses", respond("local", 2));
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.header("x-fulcrum-endpoint"), "cloud");
  const std::string id = json::parse(first.body)["id"];
  const auto gpu_requests = stack.sim_stats()["gpu"]["requests"].get<int>();

  const Response next =
      client.post("/v1/responses", respond("local", 1, R"(,"previous_response_id":")" + id + "\""));
  ASSERT_EQ(next.status, 200u) << next.body;
  EXPECT_EQ(next.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(next.header("x-fulcrum-reason"), "pinned:previous_response");
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], gpu_requests);  // not tried: no conversation
}
constexpr const char* kAlice = "sk-alice-5e1f";
constexpr const char* kBob = "sk-bob-0a9c";

std::string with_keys(const std::string& gateway) {
  return gateway + R"(auth: {mode: required}
keys:
  - {id: alice, sha256: )" +
         auth::to_hex(auth::sha256(kAlice)) + R"(, team: a}
  - {id: bob, sha256: )" +
         auth::to_hex(auth::sha256(kBob)) + R"(, team: b}
)";
}

Headers bearer(const std::string& key) { return {{"authorization", "Bearer " + key}}; }

TEST(Responses, AStoredResponseIsReadListedAndDeletedAtItsEndpointByItsOwnerOnly) {
  Stack stack(kSim, with_keys(kGateway));
  stack.add_secret(kAlice);
  stack.add_secret(kBob);
  HttpClient client(stack.port());
  const std::string two_items =
      R"({"model":"both","max_output_tokens":2,"input":[{"role":"user","content":"one"},)"
      R"({"role":"user","content":"two"}]})";
  const Response made = client.post("/v1/responses", two_items, bearer(kAlice));
  ASSERT_EQ(made.status, 200u) << made.body;
  EXPECT_EQ(made.header("x-fulcrum-endpoint"), "gpu");
  const std::string id = json::parse(made.body)["id"];
  const std::string path = "/v1/responses/" + id;

  const Response got = client.request("GET", path, "", bearer(kAlice));
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(json::parse(got.body), json::parse(made.body));
  EXPECT_EQ(got.header("x-fulcrum-endpoint"), "gpu");
  EXPECT_EQ(got.header("x-request-id").rfind("req_sim_", 0), 0u);  // the upstream's, passed on
  EXPECT_EQ(got.header("set-cookie"), "");

  // Bob shares the upstream's key through Fulcrum, but not Alice's responses.
  const Response stolen = client.request("GET", path, "", bearer(kBob));
  EXPECT_EQ(stolen.status, 404u);
  EXPECT_EQ(json::parse(stolen.body)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(client.request("GET", path, "", {}).status, 401u);

  // The query goes on as written: the oldest item first, one per page.
  const Response page =
      client.request("GET", path + "/input_items?order=asc&limit=1", "", bearer(kAlice));
  ASSERT_EQ(page.status, 200u) << page.body;
  const json items = json::parse(page.body);
  ASSERT_EQ(items["data"].size(), 1u);
  EXPECT_EQ(items["data"][0]["content"], "one");
  EXPECT_EQ(items["has_more"], true);

  // The upstream's refusal is the client's answer, as the upstream gave it.
  const Response cancel = client.request("POST", path + "/cancel", "", bearer(kAlice));
  EXPECT_EQ(cancel.status, 400u);
  EXPECT_NE(cancel.body.find("background=true"), std::string::npos) << cancel.body;

  const Response wrong_method = client.request("PUT", path, "{}", bearer(kAlice));
  EXPECT_EQ(wrong_method.status, 405u);
  EXPECT_EQ(wrong_method.header("allow"), "GET, DELETE");
  EXPECT_EQ(client.request("GET", path + "/nonsense", "", bearer(kAlice)).status, 404u);

  EXPECT_EQ(client.request("DELETE", path, "", bearer(kBob)).status, 404u);
  const Response deleted = client.request("DELETE", path, "", bearer(kAlice));
  ASSERT_EQ(deleted.status, 200u) << deleted.body;
  EXPECT_EQ(json::parse(deleted.body)["deleted"], true);
  EXPECT_EQ(stack.sim_stats()["gpu"]["stored"], 0);
  const Response gone = client.request("GET", path, "", bearer(kAlice));
  EXPECT_EQ(gone.status, 404u);
  EXPECT_EQ(json::parse(gone.body)["error"]["code"], "response_not_found");

  // One access line per call, named by what it did.
  stack.stop_gateway();
  int lines = 0;
  for (const std::string& line : stack.gateway_lines()) {
    for (const char* op : {"op=responses.get ", "op=responses.input_items ", "op=responses.cancel ",
                           "op=responses.delete "}) {
      if (line.find(op) != std::string::npos) ++lines;
    }
  }
  // got, stolen, no key and gone; the page; cancel; bob's and alice's deletes.
  EXPECT_EQ(lines, 4 + 1 + 1 + 2);
}

TEST(Responses, EndpointsThatDoNotServeTheApiAreSkippedAndAnAliasWithNoneIsRefused) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const Response skipped = client.post("/v1/responses", respond("chat-first", 2));
  ASSERT_EQ(skipped.status, 200u) << skipped.body;
  EXPECT_EQ(skipped.header("x-fulcrum-endpoint"), "cloud");
  // Chat Completions still go to the chat-only endpoint first.
  const Response chat = client.post(
      "/v1/chat/completions",
      R"({"model":"chat-first","max_tokens":1,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(chat.header("x-fulcrum-endpoint"), "chat-only");

  const Response refused = client.post("/v1/responses", respond("chat-model", 2));
  EXPECT_EQ(refused.status, 400u);
  const json error = json::parse(refused.body)["error"];
  EXPECT_EQ(error["code"], "unsupported_api");
  EXPECT_EQ(error["param"], "model");
  EXPECT_EQ(stack.sim_stats()["chat"]["requests"], 1);  // the chat request only
}

TEST(Responses, BadFieldsAndBackgroundResponsesAreRefusedBeforeAnyUpstream) {
  Stack stack(kSim, kGateway);
  HttpClient client(stack.port());
  const auto refusal = [&](const std::string& body) {
    const Response res = client.post("/v1/responses", body);
    EXPECT_EQ(res.status, 400u) << body;
    return json::parse(res.body)["error"];
  };
  EXPECT_EQ(refusal(R"({"model":"mini","input":"x","background":true})")["code"],
            "unsupported_parameter");
  EXPECT_EQ(refusal(R"({"model":"mini","input":42})")["param"], "input");
  EXPECT_EQ(refusal(R"({"model":"mini","input":["x"]})")["param"], "input[0]");
  EXPECT_EQ(refusal(R"({"model":"mini","input":"x","max_output_tokens":0})")["param"],
            "max_output_tokens");
  EXPECT_EQ(refusal(R"({"model":"mini","input":"x","instructions":7})")["param"], "instructions");
  EXPECT_EQ(refusal(R"({"model":"mini","input":"x","previous_response_id":1})")["param"],
            "previous_response_id");
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 0);
  // background: false is the default, and fine.
  EXPECT_EQ(
      client.post("/v1/responses", R"({"model":"mini","input":"x","background":false})").status,
      200u);
}

TEST(Responses, AnUpstream429IsTheClients429WithItsRetryAfter) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0}
  cloud: {listen: 127.0.0.1:0, rate_429: 1.0, retry_after: 7}
  chat:  {listen: 127.0.0.1:0}
)";
  Stack stack(sim, kGateway);
  HttpClient client(stack.port());
  const Response res = client.post("/v1/responses", respond("mini", 2));
  EXPECT_EQ(res.status, 429u) << res.body;
  EXPECT_EQ(res.header("retry-after"), "7");
  EXPECT_EQ(json::parse(res.body)["error"]["type"], "rate_limit_error");
}

}  // namespace
}  // namespace fulcrum::testing
