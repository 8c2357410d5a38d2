#include "bedrock_wire.hpp"

#include <vector>

#include "fulcrum/core/base64.hpp"
#include "fulcrum/provider/eventstream.hpp"

namespace fulcrum::sim {
namespace {

using nlohmann::json;

json usage_of(const Generation& g, const MessagePlan& plan) {
  // Bedrock's inputTokens leave out what the cache read or wrote (plan_message keeps both
  // within the prompt).
  json usage = {{"inputTokens", g.prompt_tokens - plan.cache_read - plan.cache_write},
                {"outputTokens", plan.output_tokens()},
                {"totalTokens", g.prompt_tokens + plan.output_tokens()}};
  if (plan.cache_read > 0) usage["cacheReadInputTokens"] = plan.cache_read;
  if (plan.cache_write > 0) usage["cacheWriteInputTokens"] = plan.cache_write;
  return usage;
}

std::string frame(const std::vector<provider::EventStreamHeader>& headers,
                  std::string_view payload) {
  // Fails only for oversized headers or payloads, which the sim never makes.
  return provider::encode_event(headers, payload).value_or(std::string());
}

// Bedrock pads every event's JSON with "p", letters of varying length that hide the size of
// the content; a client must ignore it.
std::string padding(std::size_t seed) {
  static constexpr std::string_view kLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW";
  return std::string(kLetters.substr(0, 1 + seed % kLetters.size()));
}

std::string event_frame(std::string_view type, std::string_view payload) {
  return frame({{":event-type", std::string(type)},
                {":content-type", "application/json"},
                {":message-type", "event"}},
               payload);
}

std::string event(std::string_view type, json payload) {
  payload["p"] = padding(payload.dump().size());
  return event_frame(type, payload.dump());
}

std::string error_name(unsigned status) {
  switch (status) {
    case 401:
    case 403:
      return "AccessDeniedException";
    case 404:
      return "ResourceNotFoundException";
    case 408:
      return "ModelTimeoutException";
    case 424:
      return "ModelErrorException";
    case 429:
      return "ThrottlingException";
    case 503:
      return "ServiceUnavailableException";
    default:
      return status >= 500 ? "InternalServerException" : "ValidationException";
  }
}

}  // namespace

std::string converse_answer(const Generation& g, const MessagePlan& plan, unsigned latency_ms) {
  json content = json::array();
  if (plan.words > 0) content.push_back({{"text", output_text(plan.words)}});
  for (const auto& call : plan.tool_calls) {
    content.push_back(
        {{"toolUse", {{"toolUseId", call.id}, {"name", call.name}, {"input", call.input}}}});
  }
  return json{{"output", {{"message", {{"role", "assistant"}, {"content", std::move(content)}}}}},
              {"stopReason", plan.stop_reason},
              {"usage", usage_of(g, plan)},
              {"metrics", {{"latencyMs", latency_ms}}}}
      .dump();
}

std::string converse_head_events() { return event("messageStart", {{"role", "assistant"}}); }

std::string converse_delta_event(unsigned i) {
  return event("contentBlockDelta",
               {{"contentBlockIndex", 0}, {"delta", {{"text", std::string(output_word(i))}}}});
}

std::string converse_tail_events(const Generation& g, const MessagePlan& plan,
                                 unsigned latency_ms) {
  std::string out;
  int index = 0;
  if (plan.words > 0 || plan.tool_calls.empty()) {
    out += event("contentBlockStop", {{"contentBlockIndex", index++}});
  }
  for (const auto& call : plan.tool_calls) {
    out += event("contentBlockStart",
                 {{"contentBlockIndex", index},
                  {"start", {{"toolUse", {{"toolUseId", call.id}, {"name", call.name}}}}}});
    for (const std::string& piece : input_pieces(call.input)) {
      out += event("contentBlockDelta",
                   {{"contentBlockIndex", index}, {"delta", {{"toolUse", {{"input", piece}}}}}});
    }
    out += event("contentBlockStop", {{"contentBlockIndex", index++}});
  }
  out += event("messageStop", {{"stopReason", plan.stop_reason}});
  out +=
      event("metadata", {{"usage", usage_of(g, plan)}, {"metrics", {{"latencyMs", latency_ms}}}});
  return out;
}

std::string converse_exception_event(std::string_view type, std::string_view message) {
  return frame({{":exception-type", std::string(type)},
                {":content-type", "application/json"},
                {":message-type", "exception"}},
               json{{"message", message}}.dump());
}

std::string with_bad_crc(std::string frame) {
  for (std::size_t k = frame.size() - 4; k < frame.size(); ++k)
    frame[k] = static_cast<char>(~frame[k]);
  return frame;
}

std::string converse_malformed_event() {
  return event_frame("contentBlockDelta", R"({"contentBlockIndex": 0, "delta": oops)");
}

std::string invoke_chunk_events(const AnthropicEvents& events) {
  std::string out;
  for (const json& e : events) out += event("chunk", {{"bytes", core::base64_encode(e.dump())}});
  return out;
}

std::string invoke_tail_events(const Generation& g, const MessagePlan& plan, unsigned latency_ms,
                               unsigned first_byte_ms) {
  AnthropicEvents events = anthropic_tail_events(g, plan);
  const json usage = usage_of(g, plan);
  events.back()["amazon-bedrock-invocationMetrics"] = {{"inputTokenCount", usage["inputTokens"]},
                                                       {"outputTokenCount", usage["outputTokens"]},
                                                       {"invocationLatency", latency_ms},
                                                       {"firstByteLatency", first_byte_ms}};
  return invoke_chunk_events(events);
}

std::string invoke_malformed_event() { return event_frame("chunk", R"({"bytes": oops)"); }

BedrockError bedrock_error(unsigned status, std::string_view name, std::string message) {
  const std::string by_status = name.empty() ? error_name(status) : std::string(name);
  return {status, by_status + ":http://internal.amazon.com/coral/com.amazon.bedrock/",
          std::move(message)};
}

std::string bedrock_error_body(const BedrockError& error) {
  return json{{"message", error.message}}.dump();
}

}  // namespace fulcrum::sim
