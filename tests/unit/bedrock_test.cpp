// The Bedrock translator: OpenAI chat → Converse (paths, the model ID or ARN as one segment,
// SigV4 or a Bedrock API key), Converse answers and ConverseStream's binary eventstream →
// OpenAI chat, usage in Fulcrum's one record exact to the token, and Bedrock's errors.
// Documented responses replayed: tests/data/bedrock (sources in its SOURCES.md).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fulcrum/core/base64.hpp"
#include "fulcrum/provider/eventstream.hpp"
#include "fulcrum/provider/provider.hpp"
#include "fulcrum/provider/sigv4.hpp"

namespace fulcrum::provider {
namespace {

using nlohmann::json;

const Provider& bedrock() { return provider_of(config::Provider::bedrock); }

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(FULCRUM_TEST_DATA) + "/bedrock/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

config::Endpoint endpoint_signed(std::string session_token = {}) {
  config::Endpoint endpoint;
  endpoint.provider.kind = config::Provider::bedrock;
  endpoint.base_url = *core::parse_url("https://bedrock-runtime.us-east-1.amazonaws.com");
  endpoint.provider.aws_region = "us-east-1";
  endpoint.provider.aws_access_key_id = core::Secret("AKIDEXAMPLE");
  endpoint.provider.aws_secret_access_key =
      core::Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  endpoint.provider.aws_session_token = core::Secret(std::move(session_token));
  endpoint.provider.default_max_tokens = 0;  // as loaded without max_tokens
  return endpoint;
}

core::Expected<UpstreamCall, api::ApiError> translate_request(
    const json& openai, std::string_view model,
    const config::Endpoint& endpoint = endpoint_signed()) {
  auto request = api::parse_request(api::Operation::chat_completions, openai.dump());
  EXPECT_TRUE(request) << openai.dump();
  if (!request) return core::Unexpected{request.error()};
  return bedrock().call(*request, endpoint, model, {});
}

std::string header(const UpstreamCall& call, std::string_view name) {
  for (const Header& h : call.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

// A ConverseStream as Bedrock frames it: each event one eventstream message.
std::string frame(std::string_view event_type, const json& payload) {
  return *encode_event({{":event-type", std::string(event_type)},
                        {":content-type", "application/json"},
                        {":message-type", "event"}},
                       payload.dump());
}

std::string exception_frame(std::string_view type, std::string_view message) {
  return *encode_event({{":exception-type", std::string(type)},
                        {":content-type", "application/json"},
                        {":message-type", "exception"}},
                       json{{"message", message}}.dump());
}

struct WholeAnswer {
  std::string body;
  std::optional<core::Usage> usage;
};

struct Translated {
  std::vector<json> chunks;
  bool done = false;
  StreamState state;
};

// Bytes fed in pieces of `piece`, as a socket might cut them.
Translated translate_stream(const std::string& bytes, std::size_t piece, bool wants_usage = true) {
  api::ParsedRequest request;
  request.model = "claude-on-bedrock";
  request.client_wants_usage = wants_usage;
  const auto translator = bedrock().stream(request);
  EXPECT_TRUE(translator->binary());
  std::string out;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    translator->on_bytes(std::string_view(bytes).substr(at, piece), out);
  }
  Translated result;
  result.state = translator->state();
  std::size_t at = 0;
  while ((at = out.find("data: ", at)) != std::string::npos) {
    const std::size_t end = out.find("\n\n", at);
    const std::string payload = out.substr(at + 6, end - at - 6);
    if (payload == "[DONE]") {
      result.done = true;
    } else {
      result.chunks.push_back(json::parse(payload));
    }
    at = end;
  }
  return result;
}

std::string streamed_text(const Translated& t) {
  std::string text;
  for (const json& c : t.chunks) {
    if (c.contains("choices") && !c["choices"].empty() &&
        c["choices"][0]["delta"].contains("content") &&
        c["choices"][0]["delta"]["content"].is_string()) {
      text += c["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  return text;
}

TEST(BedrockRequest, ChatBecomesConverseWithTheModelInThePathOnly) {
  const json chat = {{"model", "claude"},
                     {"messages",
                      {{{"role", "system"}, {"content", "Be brief."}},
                       {{"role", "user"},
                        {"content",
                         {{{"type", "text"}, {"text", "What is in this image?"}},
                          {{"type", "image_url"},
                           {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}}}}},
                       {{"role", "assistant"},
                        {"content", nullptr},
                        {"tool_calls",
                         {{{"id", "call_1"},
                           {"type", "function"},
                           {"function", {{"name", "lookup"}, {"arguments", R"({"q":"cat"})"}}}}}}},
                       {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "a cat"}}}},
                     {"tools",
                      {{{"type", "function"},
                        {"function",
                         {{"name", "lookup"},
                          {"description", "Looks a thing up."},
                          {"parameters", {{"type", "object"}}}}}}}},
                     {"tool_choice", "required"},
                     {"stop", "END"},
                     {"temperature", 1.5},
                     {"top_p", 0.5}};
  const auto call = translate_request(chat, "anthropic.claude-sonnet-4-20250514-v1:0");
  ASSERT_TRUE(call) << call.error().message;
  EXPECT_EQ(call->path, "/model/anthropic.claude-sonnet-4-20250514-v1%3A0/converse");
  EXPECT_EQ(call->accept, "application/json");
  const json expected = json::parse(R"({
    "system": [{"text": "Be brief."}],
    "messages": [
      {"role": "user", "content": [
        {"text": "What is in this image?"},
        {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}]},
      {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "call_1", "name": "lookup", "input": {"q": "cat"}}}]},
      {"role": "user", "content": [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "a cat"}]}}]}],
    "inferenceConfig": {"stopSequences": ["END"], "temperature": 1.0, "topP": 0.5},
    "toolConfig": {"tools": [{"toolSpec": {"name": "lookup", "description": "Looks a thing up.",
                                           "inputSchema": {"json": {"type": "object"}}}}],
                   "toolChoice": {"any": {}}}
  })");
  EXPECT_EQ(json::parse(call->body), expected);
  EXPECT_EQ(call->warning, "provider bedrock ignored: temperature above 1 (clamped to 1)");
}

TEST(BedrockRequest, AProvisionedModelArnIsOnePathSegmentAndTheStreamAsksForEventstream) {
  const json chat = {{"model", "m"},
                     {"stream", true},
                     {"max_tokens", 64},
                     {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  const auto call =
      translate_request(chat, "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz");
  ASSERT_TRUE(call);
  EXPECT_EQ(call->path,
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprovisioned-model%2Fabc123xyz/"
            "converse-stream");
  EXPECT_EQ(call->accept, "application/vnd.amazon.eventstream");
  EXPECT_EQ(json::parse(call->body)["inferenceConfig"]["maxTokens"], 64);
  EXPECT_FALSE(json::parse(call->body).contains("stream"));
}

TEST(BedrockRequest, SignedWithSigV4OverTheExactBytesSent) {
  const json chat = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  const auto call = translate_request(chat, "amazon.nova-lite-v1:0", endpoint_signed("TOKEN123"));
  ASSERT_TRUE(call);
  const std::string date = header(*call, "X-Amz-Date");
  ASSERT_EQ(date.size(), 16u);
  EXPECT_EQ(header(*call, "X-Amz-Security-Token"), "TOKEN123");
  const std::string authorization = header(*call, "Authorization");
  EXPECT_TRUE(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" +
                                        date.substr(0, 8) + "/us-east-1/bedrock/aws4_request, "))
      << authorization;
  EXPECT_NE(authorization.find("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            std::string::npos)
      << authorization;
  // The same request signed at the same second (the signer is checked against AWS's suite and
  // botocore in sigv4_test): the provider signed the host, path and body it sends.
  std::tm tm{};
  std::istringstream(date) >> std::get_time(&tm, "%Y%m%dT%H%M%SZ");
  SigV4Request request;
  request.method = "POST";
  request.host = "bedrock-runtime.us-east-1.amazonaws.com";
  request.path = call->path;
  request.headers = {{"content-type", "application/json"}};
  request.payload = call->body;
  request.region = "us-east-1";
  request.service = "bedrock";
  request.time = std::chrono::system_clock::from_time_t(timegm(&tm));
  request.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "TOKEN123"};
  const auto expected = sign_v4(request);
  ASSERT_TRUE(expected);
  EXPECT_NE(authorization.find("Signature=" + expected->signature), std::string::npos);
}

TEST(BedrockRequest, ABedrockApiKeyGoesAsABearerTokenUnsigned) {
  config::Endpoint endpoint;
  endpoint.provider.kind = config::Provider::bedrock;
  endpoint.base_url = *core::parse_url("https://bedrock-runtime.us-west-2.amazonaws.com");
  endpoint.api_key = core::Secret("bedrock-api-key-abc");
  const json chat = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  const auto call = translate_request(chat, "amazon.nova-lite-v1:0", endpoint);
  ASSERT_TRUE(call);
  EXPECT_EQ(header(*call, "Authorization"), "Bearer bedrock-api-key-abc");
  EXPECT_EQ(header(*call, "X-Amz-Date"), "");
}

TEST(BedrockRequest, WhatConverseCannotCarryIsA400NamingBedrock) {
  const auto refused = [](json extra) {
    json chat = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    chat.update(extra);
    const auto call = translate_request(chat, "amazon.nova-lite-v1:0");
    EXPECT_FALSE(call) << chat.dump();
    return call ? api::ApiError::internal("") : call.error();
  };
  const api::ApiError url_image = refused(
      {{"messages",
        {{{"role", "user"},
          {"content",
           {{{"type", "image_url"}, {"image_url", {{"url", "https://example.com/cat.png"}}}}}}}}}});
  EXPECT_EQ(url_image.status, 400);
  EXPECT_NE(url_image.message.find("base64"), std::string::npos) << url_image.message;
  EXPECT_NE(refused({{"n", 2}}).message.find("provider bedrock"), std::string::npos);
  const json history = {{"messages",
                         {{{"role", "user"}, {"content", "hi"}},
                          {{"role", "assistant"},
                           {"tool_calls",
                            {{{"id", "c1"},
                              {"type", "function"},
                              {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}},
                          {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "x"}}}}};
  json none_after_calls = history;
  none_after_calls["tool_choice"] = "none";
  none_after_calls["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}}}}};
  EXPECT_EQ(refused(none_after_calls).param, "tool_choice");
  EXPECT_EQ(refused({{"response_format", {{"type", "json_object"}}}}).param, "response_format");
}

TEST(BedrockRequest, WhatConverseWouldRefuseIsMadeAcceptable) {
  // A follow-up sent without tools, its history holding a call and an empty result: Converse
  // needs the called tool declared, and refuses blank text.
  const json follow_up = {{"model", "m"},
                          {"messages",
                           {{{"role", "user"}, {"content", "hi"}},
                            {{"role", "assistant"},
                             {"content", ""},
                             {"tool_calls",
                              {{{"id", "c1"},
                                {"type", "function"},
                                {"function", {{"name", "lookup"}, {"arguments", "{}"}}}}}}},
                            {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", ""}},
                            {{"role", "user"}, {"content", "thanks"}}}}};
  const auto call = translate_request(follow_up, "amazon.nova-lite-v1:0");
  ASSERT_TRUE(call) << call.error().message;
  const json body = json::parse(call->body);
  EXPECT_EQ(body["toolConfig"], json::parse(R"({"tools":[{"toolSpec":{"name":"lookup",
                                  "inputSchema":{"json":{"type":"object"}}}}]})"));
  EXPECT_EQ(body["messages"][1]["content"],
            json::parse(R"([{"toolUse":{"toolUseId":"c1","name":"lookup","input":{}}}])"));
  EXPECT_EQ(body["messages"][2]["content"][0]["toolResult"]["content"],
            json::parse(R"j([{"text":"(empty result)"}])j"));
  EXPECT_FALSE(body.contains("inferenceConfig"));  // no max_tokens: the model's maximum
  // A turn whose only text is blank is dropped, and the turns around it merged.
  const json blank = {{"model", "m"},
                      {"messages",
                       {{{"role", "user"}, {"content", "hi"}},
                        {{"role", "assistant"}, {"content", ""}},
                        {{"role", "user"}, {"content", "again"}}}}};
  const auto merged = translate_request(blank, "amazon.nova-lite-v1:0");
  ASSERT_TRUE(merged);
  EXPECT_EQ(json::parse(merged->body)["messages"],
            json::parse(R"([{"role":"user","content":[{"text":"hi"},{"text":"again"}]}])"));
  // tool_choice none without tool history: honoured by offering no tools.
  const json none = {{"model", "m"},
                     {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                     {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}},
                     {"tool_choice", "none"}};
  const auto offered_none = translate_request(none, "amazon.nova-lite-v1:0");
  ASSERT_TRUE(offered_none);
  EXPECT_FALSE(json::parse(offered_none->body).contains("toolConfig"));
}

TEST(BedrockAnswer, AConverseResponseBecomesAChatCompletion) {
  api::ParsedRequest chat;
  chat.model = "claude-on-bedrock";
  std::string body = R"({"output":{"message":{"role":"assistant","content":[
      {"text":"Let me look."},
      {"toolUse":{"toolUseId":"tooluse_1","name":"lookup","input":{"q":"cat"}}}]}},
    "stopReason":"tool_use",
    "usage":{"inputTokens":10,"outputTokens":7,"totalTokens":122,
             "cacheReadInputTokens":100,"cacheWriteInputTokens":5},
    "metrics":{"latencyMs":321}})";
  const auto usage = bedrock().answer(chat, body);
  ASSERT_TRUE(usage);
  // inputTokens exclude both cache buckets: the prompt is all three.
  EXPECT_EQ(*usage,
            (core::Usage{.input = 115, .cached_input = 100, .cache_write = 5, .output = 7}));
  const json completion = json::parse(body);
  EXPECT_EQ(completion["object"], "chat.completion");
  EXPECT_EQ(completion["model"], "claude-on-bedrock");
  const json& message = completion["choices"][0]["message"];
  EXPECT_EQ(message["content"], "Let me look.");
  EXPECT_EQ(message["tool_calls"][0]["id"], "tooluse_1");
  EXPECT_EQ(json::parse(message["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json({{"q", "cat"}}));
  EXPECT_EQ(completion["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(completion["usage"]["prompt_tokens"], 115);
  EXPECT_EQ(completion["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
}

TEST(BedrockAnswer, GuardrailAndContentFilterStopsAreContentFilter) {
  for (const char* reason : {"guardrail_intervened", "content_filtered"}) {
    std::string body = json{
        {"output", {{"message", {{"content", {{{"text", "x"}}}}}}}},
        {"stopReason",
         reason}}.dump();
    bedrock().answer(api::ParsedRequest{}, body);
    EXPECT_EQ(json::parse(body)["choices"][0]["finish_reason"], "content_filter") << reason;
  }
}

std::string text_stream(bool with_metadata = true) {
  std::string bytes = frame("messageStart", {{"role", "assistant"}, {"p", "abcdefgh"}});
  for (const char* word : {"Hello", " from", " Bedrock"}) {
    bytes += frame("contentBlockDelta",
                   {{"contentBlockIndex", 0}, {"delta", {{"text", word}}}, {"p", "abcd"}});
  }
  bytes += frame("contentBlockStop", {{"contentBlockIndex", 0}});
  bytes += frame("messageStop", {{"stopReason", "max_tokens"}});
  if (with_metadata) {
    bytes += frame("metadata", {{"usage",
                                 {{"inputTokens", 12},
                                  {"outputTokens", 3},
                                  {"totalTokens", 35},
                                  {"cacheReadInputTokens", 20}}},
                                {"metrics", {{"latencyMs", 90}}}});
  }
  return bytes;
}

TEST(BedrockStream, FramesBecomeChunksHoweverTheBytesAreCut) {
  const std::string bytes = text_stream();
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{64}, bytes.size()}) {
    const Translated t = translate_stream(bytes, piece);
    EXPECT_EQ(streamed_text(t), "Hello from Bedrock") << piece;
    EXPECT_TRUE(t.done) << piece;
    EXPECT_TRUE(t.state.finished);
    EXPECT_FALSE(t.state.failed);
    ASSERT_TRUE(t.state.usage);
    EXPECT_EQ(*t.state.usage, (core::Usage{.input = 32, .cached_input = 20, .output = 3}));
    ASSERT_GE(t.chunks.size(), 3u);
    EXPECT_EQ(t.chunks[0]["choices"][0]["delta"]["role"], "assistant");
    EXPECT_EQ(t.chunks[0]["model"], "claude-on-bedrock");
    const json& finish = t.chunks[t.chunks.size() - 2];
    EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(t.chunks.back()["usage"]["prompt_tokens"], 32);
    EXPECT_EQ(t.chunks.back()["usage"]["completion_tokens"], 3);
  }
}

TEST(BedrockStream, ToolUseDeltasBecomeToolCallChunks) {
  std::string bytes = frame("messageStart", {{"role", "assistant"}});
  bytes += frame("contentBlockStart",
                 {{"contentBlockIndex", 0},
                  {"start", {{"toolUse", {{"toolUseId", "tooluse_a"}, {"name", "lookup"}}}}}});
  bytes += frame("contentBlockDelta",
                 {{"contentBlockIndex", 0}, {"delta", {{"toolUse", {{"input", "{\"q\":"}}}}}});
  bytes += frame("contentBlockDelta",
                 {{"contentBlockIndex", 0}, {"delta", {{"toolUse", {{"input", "\"cat\"}"}}}}}});
  bytes += frame("contentBlockStop", {{"contentBlockIndex", 0}});
  bytes += frame("messageStop", {{"stopReason", "tool_use"}});
  bytes += frame("metadata", {{"usage", {{"inputTokens", 5}, {"outputTokens", 9}}}});
  const Translated t = translate_stream(bytes, 5);
  ASSERT_TRUE(t.done);
  std::string arguments;
  for (const json& c : t.chunks) {
    if (c["choices"].empty() || !c["choices"][0]["delta"].contains("tool_calls")) continue;
    const json& call = c["choices"][0]["delta"]["tool_calls"][0];
    EXPECT_EQ(call["index"], 0);
    if (call.contains("id")) {
      EXPECT_EQ(call["id"], "tooluse_a");
    }
    arguments += call["function"]["arguments"].get<std::string>();
  }
  EXPECT_EQ(json::parse(arguments), json({{"q", "cat"}}));
  EXPECT_EQ(t.chunks[t.chunks.size() - 2]["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(*t.state.usage, (core::Usage{.input = 5, .output = 9}));
}

TEST(BedrockStream, WithoutItsMetadataEventTheStreamIsNotComplete) {
  const Translated t = translate_stream(text_stream(false), 16);
  EXPECT_EQ(streamed_text(t), "Hello from Bedrock");
  EXPECT_FALSE(t.done);
  EXPECT_FALSE(t.state.finished);
}

TEST(BedrockStream, AnExceptionBeforeContentFailsWithNothingForTheClient) {
  const std::string bytes = frame("messageStart", {{"role", "assistant"}}) +
                            exception_frame("throttlingException", "Too many requests");
  const Translated t = translate_stream(bytes, 3);
  EXPECT_TRUE(t.state.failed);
  EXPECT_FALSE(t.state.content);  // so the relay may fall over to another target
  ASSERT_EQ(t.chunks.size(), 1u);
  EXPECT_EQ(t.chunks[0]["error"]["code"], "rate_limit_exceeded");
  EXPECT_FALSE(t.done);
}

TEST(BedrockStream, AnExceptionMidwayEndsTheStreamWithAnErrorAndNothingAfterIt) {
  std::string bytes = frame("messageStart", {{"role", "assistant"}});
  bytes += frame("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Hello"}}}});
  bytes += exception_frame("modelStreamErrorException", "The model failed midway.");
  bytes += frame("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", " more"}}}});
  const Translated t = translate_stream(bytes, bytes.size());
  EXPECT_TRUE(t.state.failed);
  EXPECT_TRUE(t.state.content);
  EXPECT_EQ(streamed_text(t), "Hello");  // nothing after the exception
  EXPECT_EQ(t.chunks.back()["error"]["message"], "The model failed midway.");
  // Bedrock counts only in metadata: no usage, so the gateway estimates from the prompt and
  // the text relayed.
  EXPECT_FALSE(t.state.usage);
  EXPECT_EQ(t.state.generated_chars, 5u);
}

TEST(BedrockStream, ACorruptFrameIsAnUpstreamFailureNeverRelayed) {
  std::string bytes = frame("messageStart", {{"role", "assistant"}});
  bytes += frame("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Hello"}}}});
  std::string bad =
      frame("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", " CORRUPT"}}}});
  bad.back() = static_cast<char>(bad.back() ^ 0x5a);  // the message CRC no longer matches
  bytes += bad + text_stream();
  const Translated t = translate_stream(bytes, 11);
  EXPECT_EQ(streamed_text(t), "Hello");
  EXPECT_TRUE(t.state.failed);
  EXPECT_NE(t.chunks.back()["error"]["message"].get<std::string>().find("CRC"), std::string::npos)
      << t.chunks.back().dump();
  EXPECT_FALSE(t.done);
}

// Real recorded answers (tests/data/bedrock/SOURCES.md), replayed.
WholeAnswer translate_whole(std::string body) {
  api::ParsedRequest chat;
  chat.model = "claude-on-bedrock";
  auto usage = bedrock().answer(chat, body);
  return {std::move(body), usage};
}

TEST(BedrockGolden, ARecordedConverseAnswerBecomesAChatCompletion) {
  const WholeAnswer answer = translate_whole(fixture("converse_text.json"));
  const json body = json::parse(answer.body);
  EXPECT_EQ(body["choices"][0]["message"]["content"],
            "Why did the OpenTelemetry trace go to therapy?\n\nBecause it was struggling to debug "
            "its issues and was feeling a little \"unreliable\".");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  ASSERT_TRUE(answer.usage);
  EXPECT_EQ(*answer.usage, (core::Usage{.input = 52, .output = 30}));
  EXPECT_EQ(body["usage"]["total_tokens"], 82);
}

TEST(BedrockGolden, RecordedParallelToolUseBecomesToolCalls) {
  const WholeAnswer answer = translate_whole(fixture("converse_tool_use.json"));
  const json body = json::parse(answer.body);
  const json& message = body["choices"][0]["message"];
  EXPECT_EQ(message["content"], "Sure! I'll look up both values simultaneously right away!");
  ASSERT_EQ(message["tool_calls"].size(), 2u);
  EXPECT_EQ(message["tool_calls"][1]["id"], "tooluse_AZHw3Ym0S07qOv5NlXj9iJ");
  EXPECT_EQ(message["tool_calls"][1]["function"]["name"], "get_capacitor_value");
  EXPECT_EQ(json::parse(message["tool_calls"][1]["function"]["arguments"].get<std::string>()),
            json({{"ref", "C1"}}));
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(*answer.usage, (core::Usage{.input = 694, .output = 110}));
}

TEST(BedrockGolden, RecordedCacheWritesAndReadsArePartsOfThePromptNeverCountedTwice) {
  // totalTokens 1329 = inputTokens 2 + cacheWriteInputTokens 1322 + outputTokens 5.
  const WholeAnswer written = translate_whole(fixture("converse_cache.json"));
  ASSERT_TRUE(written.usage);
  EXPECT_EQ(*written.usage, (core::Usage{.input = 1324, .cache_write = 1322, .output = 5}));
  EXPECT_EQ(written.usage->uncached_input(), 2);
  EXPECT_EQ(written.usage->input + written.usage->output, 1329);
  const WholeAnswer read = translate_whole(fixture("converse_cache_read.json"));
  ASSERT_TRUE(read.usage);
  EXPECT_EQ(read.usage->cached_input, 1322);
  EXPECT_EQ(read.usage->cache_write, 0);
  EXPECT_EQ(json::parse(read.body)["usage"]["prompt_tokens_details"]["cached_tokens"], 1322);
}

TEST(BedrockGolden, ARecordedStreamDecodesAndTranslatesHoweverItIsCut) {
  const std::string bytes = fixture("stream_text.eventstream");
  std::string expected;
  for (const json& event : json::parse(fixture("stream_text.events.json"))) {
    if (event["payload"].contains("delta")) expected += event["payload"]["delta"]["text"];
  }
  for (std::size_t piece : {std::size_t{1}, std::size_t{13}, std::size_t{1000}, bytes.size()}) {
    const Translated t = translate_stream(bytes, piece);
    EXPECT_EQ(streamed_text(t), expected) << piece;
    EXPECT_TRUE(t.done);
    EXPECT_FALSE(t.state.failed);
    ASSERT_TRUE(t.state.usage);
    EXPECT_EQ(*t.state.usage, (core::Usage{.input = 52, .output = 36}));
  }
}

TEST(BedrockGolden, ARecordedToolUseStreamBecomesTextThenAToolCall) {
  const Translated t = translate_stream(fixture("stream_tool_use.eventstream"), 97);
  ASSERT_TRUE(t.done);
  EXPECT_EQ(streamed_text(t),
            "Okay, let me check the weather for Barcelona using the available tool:");
  std::string arguments;
  for (const json& c : t.chunks) {
    if (c["choices"].empty() || !c["choices"][0]["delta"].contains("tool_calls")) continue;
    const json& call = c["choices"][0]["delta"]["tool_calls"][0];
    EXPECT_EQ(call["index"], 0);  // the first tool call, though Bedrock's block 1
    if (call.contains("id")) {
      EXPECT_EQ(call["id"], "tooluse_yypYDr71TwCwByoyao4-Vg");
    }
    arguments += call["function"]["arguments"].get<std::string>();
  }
  EXPECT_EQ(json::parse(arguments), json({{"location", "Barcelona"}}));
  EXPECT_EQ(t.chunks[t.chunks.size() - 2]["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(*t.state.usage, (core::Usage{.input = 236, .output = 58}));
}

TEST(BedrockGolden, RecordedErrorsFallOverOrReachTheClientByWhatTheyMean) {
  const json errors = json::parse(fixture("errors.json"));  // named: items() views it
  for (const auto& [name, recorded] : errors.items()) {
    const unsigned status = recorded["status"];
    const UpstreamError error =
        bedrock().error(api::ParsedRequest{}, status, recorded["body"].dump());
    const json body = json::parse(error.body);
    EXPECT_NE(body["error"]["message"].get<std::string>().find(
                  recorded["body"]["message"].get<std::string>()),
              std::string::npos)
        << name;
    const bool client_mistake = name == "ValidationException" || name == "AccessDeniedException" ||
                                name == "ResourceNotFoundException";
    EXPECT_EQ(bedrock().falls_over(status), !client_mistake) << name << " " << status;
  }
}

// /v1/messages on Bedrock (InvokeModelWithResponseStream): base64 chunks of Anthropic's events
// leave as Anthropic's SSE, read on the way.
TEST(BedrockInvoke, ChunksLeaveAsAnthropicsOwnEventsWithUsageRead) {
  const auto chunk = [](const json& event) {
    return frame("chunk", {{"bytes", core::base64_encode(event.dump())}, {"p", "abc"}});
  };
  std::string bytes = chunk(json::parse(
      R"({"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":7,"cache_read_input_tokens":4,"output_tokens":1}}})"));
  bytes += chunk(json::parse(
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})"));
  bytes += chunk(json::parse(
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}})"));
  bytes += chunk(json::parse(
      R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":7}})"));
  api::ParsedRequest messages;
  messages.operation = api::Operation::messages;
  EXPECT_FALSE(bedrock().translates(messages));
  const auto translator = bedrock().stream(messages);
  ASSERT_TRUE(translator->binary());
  std::string out;
  for (std::size_t at = 0; at < bytes.size(); at += 9) {
    translator->on_bytes(std::string_view(bytes).substr(at, 9), out);
  }
  EXPECT_EQ(out.rfind("event: message_start\ndata: {", 0), 0u) << out;
  EXPECT_NE(out.find("event: content_block_delta\ndata: "), std::string::npos);
  EXPECT_EQ(out.find("chat.completion"), std::string::npos);
  EXPECT_TRUE(translator->state().finished);
  EXPECT_FALSE(translator->state().failed);
  EXPECT_EQ(*translator->state().usage, (core::Usage{.input = 11, .cached_input = 4, .output = 3}));
  // Whatever follows the end, even a corrupt frame, is not the client's business.
  std::string bad = chunk(json::parse(R"({"type":"ping"})"));
  bad.back() = static_cast<char>(bad.back() ^ 1);
  const std::size_t ended = out.size();
  translator->on_bytes(bad, out);
  EXPECT_EQ(out.size(), ended);
  // An exception ends it with Anthropic's error event; errors are in Anthropic's shape too.
  const auto failing = bedrock().stream(messages);
  std::string failed_out;
  failing->on_bytes(exception_frame("throttlingException", "Too many requests"), failed_out);
  EXPECT_EQ(failed_out.rfind("event: error\ndata: ", 0), 0u);
  EXPECT_EQ(json::parse(failed_out.substr(failed_out.find('{')))["error"]["type"],
            "rate_limit_error");
  const json error =
      json::parse(bedrock().error(messages, 429, R"({"message":"Too many requests"})").body);
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["error"]["type"], "rate_limit_error");
}

TEST(BedrockErrors, StatusesMapToWhatTheyMeanForTheClientAndTheRouter) {
  const auto error = [](unsigned status, std::string body) {
    return bedrock().error(api::ParsedRequest{}, status, std::move(body));
  };
  const UpstreamError throttled =
      error(429, R"({"message":"Too many requests, please wait before trying again."})");
  EXPECT_EQ(json::parse(throttled.body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_NE(json::parse(throttled.body)["error"]["message"].get<std::string>().find("Too many"),
            std::string::npos);
  EXPECT_TRUE(bedrock().falls_over(429));
  EXPECT_TRUE(bedrock().falls_over(503));
  // ModelTimeoutException and ModelErrorException: the target failed, not the client.
  EXPECT_TRUE(bedrock().falls_over(408));
  EXPECT_TRUE(bedrock().falls_over(424));
  EXPECT_EQ(json::parse(error(408, R"({"message":"Model timed out"})").body)["error"]["message"],
            "Bedrock: Model timed out");
  EXPECT_FALSE(bedrock().falls_over(400));
  EXPECT_FALSE(bedrock().falls_over(403));
  const UpstreamError invalid = error(400, R"({"message":"Malformed input request"})");
  EXPECT_EQ(json::parse(invalid.body)["error"]["type"], "invalid_request_error");
  EXPECT_FALSE(invalid.exhausted);
  // The other providers keep their own rule.
  EXPECT_FALSE(provider_of(config::Provider::openai).falls_over(408));
}

}  // namespace
}  // namespace fulcrum::provider
