// Bedrock's answers: the answer half of provider bedrock. A Converse response, and each
// ConverseStream event, is put in the Messages shape and read by its rules
// (messages_answer.cpp), so usage, stop reasons and tool calls mean what they mean for
// Anthropic; a stream's usage comes in its metadata event, after messageStop, and the stream
// is complete only once that arrived. For /v1/messages clients, InvokeModel's answers are
// Anthropic's own and are relayed as such.
#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <random>

#include "fulcrum/core/base64.hpp"
#include "fulcrum/provider/eventstream.hpp"
#include "json_access.hpp"
#include "messages_answer.hpp"
#include "providers.hpp"

namespace fulcrum::provider {
namespace {

using nlohmann::json;

// Converse has no message id; chat completions have one, unique across restarts and replicas.
std::string message_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char hex[16];
  const auto end = std::to_chars(hex, hex + sizeof hex, random(), 16).ptr;
  return "msg_bedrock_" + std::string(hex, end);
}

// Converse's TokenUsage as Messages usage: both count input without the cache buckets.
json messages_usage(const json& usage) {
  json out = json::object();
  for (auto [from, to] : {std::pair{"inputTokens", "input_tokens"},
                          {"cacheReadInputTokens", "cache_read_input_tokens"},
                          {"cacheWriteInputTokens", "cache_creation_input_tokens"},
                          {"outputTokens", "output_tokens"}}) {
    if (has_count(usage, from)) out[to] = static_cast<std::uint64_t>(count_of(usage, from));
  }
  return out;
}

// A Converse content block as a Messages one; null for what is not relayed (reasoning).
json messages_block(const json& block) {
  if (member(block, "text").is_string()) return {{"type", "text"}, {"text", block["text"]}};
  const json& tool = member(block, "toolUse");
  if (tool.is_object()) {
    return {{"type", "tool_use"},
            {"id", text_of(tool, "toolUseId")},
            {"name", text_of(tool, "name")},
            {"input", member(tool, "input").is_object() ? tool["input"] : json::object()}};
  }
  return nullptr;
}

// Bedrock's exceptions by the Messages error type that means the same to a client.
std::string messages_error_type(std::string_view exception) {
  if (exception == "throttlingException" || exception == "ThrottlingException") {
    return "rate_limit_error";
  }
  if (exception == "serviceUnavailableException" || exception == "ServiceUnavailableException") {
    return "overloaded_error";
  }
  if (exception == "validationException" || exception == "ValidationException") {
    return "invalid_request_error";
  }
  return "api_error";  // internalServerException, modelStreamErrorException, a corrupt frame
}

// An Anthropic event's type, safe on an SSE event line ("content_block_delta").
bool plain_event_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || c == '_';
  });
}

// A Bedrock stream, frame by frame: exceptions and corrupt frames end it as Messages error
// events; each event frame goes to on_event_frame.
class BedrockStream : public MessagesStream {
 public:
  using MessagesStream::MessagesStream;

  bool binary() const override { return true; }

  void on_bytes(std::string_view bytes, std::string& out) override {
    if (state_.finished) return;
    const bool intact =
        decoder_.feed(bytes, [&](const EventStreamMessage& message) { on_message(message, out); });
    // A bad CRC or frame: nothing more of this stream can be trusted, nor relayed (unless it
    // already ended: what came after its end is not the client's business).
    if (!intact && !state_.finished) {
      fail("api_error", "The upstream's event stream was corrupt: " + decoder_.error(), out);
    }
  }

 protected:
  // One event frame: its :event-type and its payload, parsed as JSON (an object).
  virtual void on_event_frame(std::string_view type, const json& payload, std::string& out) = 0;
  // The stream ends with an error of a Messages `type`.
  virtual void fail(std::string type, std::string text, std::string& out) = 0;

  static json error_event(std::string type, std::string text) {
    return {{"type", "error"},
            {"error", {{"type", std::move(type)}, {"message", std::move(text)}}}};
  }

 private:
  void on_message(const EventStreamMessage& message, std::string& out) {
    if (state_.finished) return;
    const std::string_view kind = message.message_type();
    if (kind == "exception" || kind == "error") {
      const bool modeled = kind == "exception";
      const json payload =
          shallow(message.payload) ? json::parse(message.payload, nullptr, false) : json();
      std::string text =
          modeled ? text_of(payload, "message") : std::string(message.header(":error-message"));
      const std::string_view name =
          modeled ? message.exception_type() : message.header(":error-code");
      if (text.empty()) text = "The upstream (provider bedrock) failed: " + std::string(name);
      fail(messages_error_type(name), std::move(text), out);
      return;
    }
    if (kind != "event") return;
    const json payload =
        shallow(message.payload) ? json::parse(message.payload, nullptr, false) : json();
    if (!payload.is_object()) {
      ++state_.malformed;  // dropped, as a malformed SSE event is, and counted
      return;
    }
    on_event_frame(message.event_type(), payload, out);
  }

  EventStreamDecoder decoder_;
};

// ConverseStream's events as Messages events, translated for a chat client.
class ConverseStream final : public BedrockStream {
 public:
  ConverseStream(bool client_wants_usage, std::string model)
      : BedrockStream(false, client_wants_usage), model_(std::move(model)) {}

 private:
  void on_event_frame(std::string_view type, const json& payload, std::string& out) override {
    const json& index = member(payload, "contentBlockIndex");
    if (type == "messageStart") {
      // No usage yet: Bedrock counts the prompt only in metadata, at the end. Until then a
      // failed stream has none, and the gateway estimates the prompt and what was relayed.
      translate({{"type", "message_start"}, {"message", {{"id", message_id()}, {"model", model_}}}},
                out);
    } else if (type == "contentBlockStart") {
      const json& tool = member(member(payload, "start"), "toolUse");
      if (!tool.is_object()) return;
      translate({{"type", "content_block_start"},
                 {"index", index},
                 {"content_block",
                  {{"type", "tool_use"},
                   {"id", text_of(tool, "toolUseId")},
                   {"name", text_of(tool, "name")}}}},
                out);
    } else if (type == "contentBlockDelta") {
      const json& delta = member(payload, "delta");
      if (member(delta, "text").is_string()) {
        translate({{"type", "content_block_delta"},
                   {"index", index},
                   {"delta", {{"type", "text_delta"}, {"text", delta["text"]}}}},
                  out);
      } else if (const json& input = member(member(delta, "toolUse"), "input"); input.is_string()) {
        translate({{"type", "content_block_delta"},
                   {"index", index},
                   {"delta", {{"type", "input_json_delta"}, {"partial_json", input}}}},
                  out);
      }  // reasoning deltas are not relayed
    } else if (type == "contentBlockStop") {
      translate({{"type", "content_block_stop"}, {"index", index}}, out);
    } else if (type == "messageStop") {
      translate({{"type", "message_delta"},
                 {"delta", {{"stop_reason", text_of(payload, "stopReason", "end_turn")}}}},
                out);
    } else if (type == "metadata") {
      translate({{"type", "message_delta"}, {"usage", messages_usage(member(payload, "usage"))}},
                out);
      translate({{"type", "message_stop"}}, out);
    }
  }

  void fail(std::string type, std::string text, std::string& out) override {
    translate(error_event(std::move(type), std::move(text)), out);
  }

  std::string model_;
};

// InvokeModelWithResponseStream for a /v1/messages client: each chunk frame carries one
// Anthropic event, base64-encoded in its `bytes`; it leaves as the SSE event Anthropic itself
// would have sent, and is read on the way for usage, the end and failures.
class InvokeStream final : public BedrockStream {
 public:
  InvokeStream() : BedrockStream(false, false) {}

 private:
  void on_event_frame(std::string_view type, const json& payload, std::string& out) override {
    if (type != "chunk") return;
    const std::optional<std::string> data = core::base64_decode(text_of(payload, "bytes"));
    const json event = data && shallow(*data) ? json::parse(*data, nullptr, false) : json();
    const std::string type_name = text_of(event, "type");
    if (!event.is_object() || !plain_event_name(type_name)) {
      ++state_.malformed;
      return;
    }
    // As sent, unless a line break in it would end the SSE event early (compact JSON has none).
    const bool one_line = data->find_first_of("\r\n") == std::string::npos;
    out += "event: " + type_name + "\ndata: " + (one_line ? *data : dump_lossy(event)) + "\n\n";
    read(event);
  }

  void fail(std::string type, std::string text, std::string& out) override {
    if (state_.finished) return;
    const json error = error_event(std::move(type), std::move(text));
    out += "event: error\ndata: " + dump_lossy(error) + "\n\n";
    read(error);
  }

  // What an event means for usage, the end and failures; the chat chunks it would make are
  // not sent anywhere.
  void read(const json& event) {
    ignored_.clear();
    translate(event, ignored_);
  }

  std::string ignored_;
};

}  // namespace

bool Bedrock::translates(const api::ParsedRequest& request) const {
  return request.operation != api::Operation::messages;
}

std::optional<core::Usage> Bedrock::answer(const api::ParsedRequest& request,
                                           std::string& body) const {
  if (!shallow(body)) return std::nullopt;  // left as it is: nlohmann's dump would recurse
  if (!translates(request)) return messages_usage_of(body);  // InvokeModel: Anthropic's message
  const json converse = json::parse(body, nullptr, false);
  if (!converse.is_object()) return std::nullopt;
  json content = json::array();
  for (const json& block : member(member(member(converse, "output"), "message"), "content")) {
    json converted = messages_block(block);
    if (!converted.is_null()) content.push_back(std::move(converted));
  }
  json message = {{"id", message_id()},
                  {"model", request.model},
                  {"content", std::move(content)},
                  {"stop_reason", text_of(converse, "stopReason", "end_turn")}};
  if (member(converse, "usage").is_object()) {
    message["usage"] = messages_usage(converse["usage"]);
  }
  return chat_completion_of(message, request.model, body);
}

std::unique_ptr<StreamTranslator> Bedrock::stream(const api::ParsedRequest& request) const {
  if (!translates(request)) return std::make_unique<InvokeStream>();
  return std::make_unique<ConverseStream>(request.client_wants_usage, request.model);
}

// The model timed out (408) or failed (424): the target failed, not the client.
bool Bedrock::falls_over(unsigned status) const {
  return Provider::falls_over(status) || status == 408 || status == 424;
}

// {"message": "..."} (the exception's name is in a header) → OpenAI's {"error": {...}}, typed
// by status as Bedrock assigns them.
UpstreamError Bedrock::error(const api::ParsedRequest& request, unsigned status,
                             std::string body) const {
  const json parsed = shallow(body) ? json::parse(body, nullptr, false) : json();
  std::string text = text_of(parsed, "message");
  if (text.empty()) text = text_of(parsed, "Message");
  if (text.empty()) text = "The upstream (provider bedrock) refused the request.";
  // 408 (ModelTimeoutException) and 424 (ModelErrorException) fall over (falls_over), and
  // with no target left the client gets the gateway's 502 with this message.
  std::string type = "api_error";
  switch (status) {
    case 400:
      type = "invalid_request_error";
      break;
    case 401:
    case 403:
      type = "permission_error";
      break;
    case 404:
      type = "not_found_error";
      break;
    case 429:  // ThrottlingException, ModelNotReadyException
      type = "rate_limit_error";
      break;
    case 503:  // ServiceUnavailableException
      type = "overloaded_error";
      break;
    default:
      break;
  }
  if (!translates(request)) {
    // A /v1/messages client reads errors in Anthropic's shape.
    return {dump_lossy(json{{"type", "error"},
                            {"error", {{"type", type}, {"message", "Bedrock: " + text}}}}),
            false};
  }
  return {openai_error_body(type, "Bedrock: " + text, false), false};
}

}  // namespace fulcrum::provider
