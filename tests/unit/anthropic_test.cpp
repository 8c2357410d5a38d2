// The Anthropic translator against Anthropic's own documented responses, streams, errors and
// requests (tests/data/anthropic, sources in its SOURCES.md): what a client gets back in
// OpenAI's shape, and usage in Fulcrum's one record, exact to the token.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/provider/provider.hpp"

namespace fulcrum::provider {
namespace {

using nlohmann::json;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(FULCRUM_TEST_DATA) + "/anthropic/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const Provider& anthropic() { return provider_of(config::Provider::anthropic); }

// A whole message translated for a chat client: the body it gets, and the usage metered.
struct WholeAnswer {
  std::string body;
  std::optional<core::Usage> usage;
};
WholeAnswer translate_whole(std::string body) {
  const api::ParsedRequest chat;  // chat completions
  auto usage = anthropic().answer(chat, body);
  return {std::move(body), usage};
}

// An OpenAI chat request (checked as the gateway checks it) translated for an Anthropic
// endpoint of the current API version.
core::Expected<UpstreamCall, api::ApiError> translate_request(const json& openai,
                                                              std::string_view model) {
  auto request = api::parse_request(api::Operation::chat_completions, openai.dump());
  EXPECT_TRUE(request) << openai.dump();
  if (!request) return core::Unexpected{request.error()};
  config::Endpoint endpoint;
  endpoint.provider.kind = config::Provider::anthropic;
  return anthropic().call(*request, endpoint, model, {});
}

UpstreamError translate_error(unsigned status, std::string body) {
  return anthropic().error(api::ParsedRequest{}, status, std::move(body));
}

// A documented stream, fed in pieces of `piece` bytes as a socket might cut it.
struct Translated {
  std::vector<json> chunks;
  bool done = false;
  StreamState state;
};
Translated translate_stream(const std::string& sse, std::size_t piece, bool wants_usage = true) {
  api::ParsedRequest request;
  request.client_wants_usage = wants_usage;
  const auto translator = anthropic().stream(request);
  std::string out;
  std::string data;
  api::SseScanner scanner;
  for (std::size_t at = 0; at < sse.size(); at += piece) {
    scanner.feed(std::string_view(sse).substr(at, piece), [&](std::string_view event) {
      data.clear();
      if (api::sse_data(event, data)) translator->on_event(data, out);
    });
  }
  Translated result;
  result.state = translator->state();
  bool done = false;
  std::size_t at = 0;
  while ((at = out.find("data: ", at)) != std::string::npos) {
    const std::size_t end = out.find("\n\n", at);
    const std::string payload = out.substr(at + 6, end - at - 6);
    if (payload == "[DONE]") {
      done = true;
    } else {
      result.chunks.push_back(json::parse(payload));
    }
    at = end;
  }
  result.done = done;
  return result;
}

std::string streamed_text(const Translated& t) {
  std::string text;
  for (const json& c : t.chunks) {
    if (c.contains("choices") && !c["choices"].empty() &&
        c["choices"][0]["delta"].contains("content")) {
      text += c["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  return text;
}

TEST(AnthropicGolden, ADocumentedMessageBecomesAChatCompletion) {
  const WholeAnswer answer = translate_whole(fixture("message_text.json"));
  const json body = json::parse(answer.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["id"], "msg_01XFDUDYJgAACzvnptvVoYEL");
  EXPECT_EQ(body["model"], "claude-sonnet-4-5");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Hello!");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  ASSERT_TRUE(answer.usage);
  EXPECT_EQ(*answer.usage, (core::Usage{.input = 12, .output = 6}));
  EXPECT_EQ(body["usage"]["total_tokens"], 18);
}

TEST(AnthropicGolden, ADocumentedToolUseBecomesToolCallsWithArgumentsAsAString) {
  // The docs' example leaves out type, stop_sequence and usage.
  const WholeAnswer answer = translate_whole(fixture("message_tool_use.json"));
  const json body = json::parse(answer.body);
  const json& message = body["choices"][0]["message"];
  EXPECT_EQ(message["content"], "I'll check the current weather in San Francisco for you.");
  ASSERT_EQ(message["tool_calls"].size(), 1u);
  EXPECT_EQ(message["tool_calls"][0]["id"], "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_EQ(json::parse(message["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json::parse(R"({"location": "San Francisco, CA", "unit": "celsius"})"));
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_FALSE(answer.usage);  // none reported: estimated by the gateway instead
}

TEST(AnthropicGolden, CacheReadsAndWritesArePartsOfThePromptNeverCountedTwice) {
  const WholeAnswer read = translate_whole(fixture("message_cache_usage.json"));
  ASSERT_TRUE(read.usage);
  EXPECT_EQ(*read.usage,
            (core::Usage{.input = 21 + 188086, .cached_input = 188086, .output = 393}));
  EXPECT_EQ(read.usage->uncached_input(), 21);
  EXPECT_EQ(json::parse(read.body)["usage"]["prompt_tokens_details"]["cached_tokens"], 188086);
  const WholeAnswer written = translate_whole(fixture("message_cache_write_usage.json"));
  ASSERT_TRUE(written.usage);
  EXPECT_EQ(written.usage->cache_write, 188086);
  EXPECT_EQ(written.usage->cached_input, 0);
  EXPECT_EQ(written.usage->uncached_input(), written.usage->input - 188086);
  // Every documented usage object: input is the sum of the three buckets.
  for (const json& snippet : json::parse(fixture("usage_snippets.json"))) {
    if (!snippet.contains("usage") || !snippet.contains("expected_total_input")) continue;
    const WholeAnswer a =
        translate_whole(json{{"content", json::array()}, {"usage", snippet["usage"]}}.dump());
    ASSERT_TRUE(a.usage) << snippet.dump();
    EXPECT_EQ(a.usage->input, snippet["expected_total_input"].get<std::int64_t>())
        << snippet.dump();
  }
}

TEST(AnthropicGolden, TheDocumentedStreamBecomesChatChunksHoweverItIsCut) {
  for (std::size_t piece : {1u, 7u, 64u, 100000u}) {
    const Translated t = translate_stream(fixture("stream_text.sse"), piece);
    EXPECT_TRUE(t.done);
    EXPECT_TRUE(t.state.finished);
    EXPECT_FALSE(t.state.failed);
    EXPECT_EQ(streamed_text(t), "Hello!");
    EXPECT_EQ(t.chunks.front()["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(t.chunks.front()["id"], "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
    // message_delta's output count is cumulative: 15, not 1 + 15.
    ASSERT_TRUE(t.state.usage);
    EXPECT_EQ(*t.state.usage, (core::Usage{.input = 25, .output = 15}));
    EXPECT_EQ(t.chunks[t.chunks.size() - 2]["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(t.chunks.back()["usage"]["completion_tokens"], 15);
  }
  // Without include_usage the client gets no usage chunk; Fulcrum still meters.
  const Translated quiet = translate_stream(fixture("stream_text.sse"), 64, false);
  EXPECT_FALSE(quiet.chunks.back().contains("usage"));
  EXPECT_TRUE(quiet.state.usage);
}

TEST(AnthropicGolden, TheDocumentedToolStreamBecomesToolCallDeltas) {
  const Translated t = translate_stream(fixture("stream_tool_use.sse"), 13);
  EXPECT_TRUE(t.done);
  std::string arguments;
  std::string name;
  std::string finish;
  for (const json& c : t.chunks) {
    if (c["choices"].empty()) continue;
    const json& choice = c["choices"][0];
    if (choice["finish_reason"].is_string()) finish = choice["finish_reason"];
    if (!choice["delta"].contains("tool_calls")) continue;
    const json& call = choice["delta"]["tool_calls"][0];
    EXPECT_EQ(call["index"], 0);
    if (call.contains("id")) name = call["function"]["name"];
    arguments += call["function"]["arguments"].get<std::string>();
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(json::parse(arguments)["location"], "San Francisco, CA");
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(streamed_text(t).rfind("Okay", 0), 0u);
  ASSERT_TRUE(t.state.usage);
  EXPECT_EQ(*t.state.usage, (core::Usage{.input = 472, .output = 89}));
}

TEST(AnthropicGolden, AnErrorEventEndsTheStreamWithAnOpenAIErrorAndNoDone) {
  const Translated t = translate_stream(fixture("stream_error.sse"), 5);
  EXPECT_FALSE(t.done);
  EXPECT_TRUE(t.state.failed);
  EXPECT_EQ(t.chunks.back()["error"]["message"], "Overloaded");
  EXPECT_EQ(t.chunks.back()["error"]["type"], "server_error");
  ASSERT_TRUE(t.state.usage);
  EXPECT_EQ(t.state.usage->input, 25);  // message_start's
  EXPECT_GE(t.state.usage->output, 1);
}

TEST(AnthropicGolden, ThinkingIsNotRelayedAndAStreamWithoutUsageStillEnds) {
  const Translated t = translate_stream(fixture("stream_thinking_no_usage.sse"), 32);
  EXPECT_TRUE(t.done);
  for (const json& c : t.chunks) {
    if (c["choices"].empty()) continue;
    EXPECT_FALSE(c["choices"][0]["delta"].contains("thinking")) << c.dump();
  }
}

TEST(AnthropicUsage, ALaterEventReplacesOnlyTheCountsItCarries) {
  // message_start with the cache buckets; a message_delta with input_tokens only, nulls for
  // the caches (the SDK's types allow it) and a count beyond any real one.
  const std::string stream =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":"
      "{\"input_tokens\":10,\"cache_read_input_tokens\":188086,\"cache_creation_input_tokens\":7,"
      "\"output_tokens\":1}}}\n\n"
      "event: message_delta\ndata: "
      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
      "\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":null,\"output_tokens\":40}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  const Translated t = translate_stream(stream, 9);
  ASSERT_TRUE(t.state.usage);
  EXPECT_EQ(*t.state.usage,
            (core::Usage{
                .input = 12 + 188086 + 7, .cached_input = 188086, .cache_write = 7, .output = 40}));
  // 2^64 - 1 tokens: capped, never negative, never overflowing a sum.
  const WholeAnswer huge = translate_whole(
      R"({"content":[],"usage":{"input_tokens":18446744073709551615,"cache_read_input_tokens":18446744073709551615,"output_tokens":1}})");
  ASSERT_TRUE(huge.usage);
  EXPECT_GT(huge.usage->input, 0);
  EXPECT_GE(huge.usage->input, huge.usage->cached_input);
}

TEST(AnthropicRequest, ArgumentsNestedBeyondTheBodysLimitAreRefusedNotSerialized) {
  // Depth inside a string is not the body reader's to check; nlohmann's dump would recurse.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const json openai = {
      {"model", "claude"},
      {"messages",
       json::array(
           {{{"role", "assistant"},
             {"tool_calls",
              json::array(
                  {{{"id", "t"},
                    {"type", "function"},
                    {"function", {{"name", "f"}, {"arguments", "{\"a\":" + deep + "}"}}}}})}}})}};
  const auto call = translate_request(openai, "claude");
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().status, 400u);
  EXPECT_EQ(call.error().param, "messages[0].tool_calls[0].function.arguments");
}

TEST(AnthropicGolden, DocumentedErrorsTakeOpenAIsShapeAndASpendCapIsExhaustion) {
  const std::vector<std::tuple<std::string, unsigned, std::string, bool>> cases = {
      {"error_invalid_request_error_400.json", 400, "invalid_request_error", false},
      {"error_authentication_error_401.json", 401, "authentication_error", false},
      {"error_not_found_error_404.json", 404, "not_found_error", false},
      {"error_rate_limit_error_429.json", 429, "requests", false},
      {"error_rate_limit_error_spend_cap_429.json", 429, "insufficient_quota", true},
      {"error_api_error_500.json", 500, "api_error", false},
      {"error_overloaded_error_529.json", 529, "server_error", false},
  };
  for (const auto& [file, status, type, exhausted] : cases) {
    const std::string original = fixture(file);
    const UpstreamError error = translate_error(status, original);
    const json body = json::parse(error.body);
    EXPECT_EQ(body["error"]["type"], type) << file;
    EXPECT_EQ(body["error"]["message"], json::parse(original)["error"]["message"]) << file;
    EXPECT_EQ(error.exhausted, exhausted) << file;
  }
  // Not JSON at all (a proxy's HTML): still OpenAI's shape.
  EXPECT_EQ(json::parse(translate_error(502, "<html>bad gateway</html>").body)["error"]["type"],
            "api_error");
}

// Content as blocks: a string is one text block, in messages and in tool results.
json normalized(json messages) {
  for (json& m : messages) {
    if (m["content"].is_string())
      m["content"] = json::array({{{"type", "text"}, {"text", m["content"]}}});
    for (json& block : m["content"]) {
      if (block.value("type", "") == "tool_result" && block["content"].is_string()) {
        block["content"] = json::array({{{"type", "text"}, {"text", block["content"]}}});
      }
    }
  }
  return messages;
}

TEST(AnthropicGolden, AnOpenAIToolConversationBecomesTheDocumentedRequest) {
  const json documented = json::parse(fixture("request_tool_result.json"));
  const json& tool = documented["tools"][0];
  const json& use = documented["messages"][1]["content"][1];
  const json openai = {
      {"model", "claude"},
      {"max_tokens", 1024},
      {"tools", json::array({{{"type", "function"},
                              {"function",
                               {{"name", tool["name"]},
                                {"description", tool["description"]},
                                {"parameters", tool["input_schema"]}}}}})},
      {"messages",
       json::array(
           {{{"role", "user"}, {"content", "What is the weather like in San Francisco?"}},
            {{"role", "assistant"},
             {"content", documented["messages"][1]["content"][0]["text"]},
             {"tool_calls",
              json::array(
                  {{{"id", use["id"]},
                    {"type", "function"},
                    {"function", {{"name", use["name"]}, {"arguments", use["input"].dump()}}}}})}},
            {{"role", "tool"}, {"tool_call_id", use["id"]}, {"content", "15 degrees"}}})}};
  const auto call = translate_request(openai, "claude-sonnet-4-5");
  ASSERT_TRUE(call);
  EXPECT_EQ(call->path, "/v1/messages");
  EXPECT_TRUE(call->warning.empty()) << call->warning;
  const json sent = json::parse(call->body);
  EXPECT_EQ(sent["model"], documented["model"]);
  EXPECT_EQ(sent["max_tokens"], documented["max_tokens"]);
  EXPECT_EQ(sent["tools"], documented["tools"]);
  EXPECT_EQ(normalized(sent["messages"]), normalized(documented["messages"]));
}

TEST(AnthropicGolden, AnImageByUrlBecomesTheDocumentedBlock) {
  const json documented = json::parse(fixture("request_image_url.json"));
  const json openai = {
      {"model", "claude"},
      {"max_tokens", 1024},
      {"messages",
       json::array(
           {{{"role", "user"},
             {"content",
              json::array({{{"type", "image_url"},
                            {"image_url",
                             {{"url", documented["messages"][0]["content"][0]["source"]["url"]}}}},
                           {{"type", "text"}, {"text", "Describe this image."}}})}}})}};
  const auto call = translate_request(openai, "claude-sonnet-4-5");
  ASSERT_TRUE(call);
  EXPECT_EQ(json::parse(call->body)["messages"], documented["messages"]);
}

}  // namespace
}  // namespace fulcrum::provider
