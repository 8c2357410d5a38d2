// The Messages shape → OpenAI chat completions (messages_answer.hpp), shared by providers
// anthropic and bedrock. Usage is read into Fulcrum's one record, where the Messages
// input_tokens (which exclude both cache buckets) are one part of the prompt.
#include "messages_answer.hpp"

#include <algorithm>
#include <chrono>

#include "fulcrum/api/usage.hpp"
#include "json_access.hpp"

namespace fulcrum::provider {
namespace {

using nlohmann::json;

}  // namespace

// message_delta's counts are cumulative (the SDK types allow a null count).
void read_messages_usage(const json& usage, core::Usage& into) {
  std::int64_t uncached = into.uncached_input();
  if (has_count(usage, "input_tokens")) uncached = count_of(usage, "input_tokens");
  if (has_count(usage, "cache_read_input_tokens")) {
    into.cached_input = count_of(usage, "cache_read_input_tokens");
  }
  if (has_count(usage, "cache_creation_input_tokens")) {
    into.cache_write = count_of(usage, "cache_creation_input_tokens");
  }
  into.input = uncached + into.cached_input + into.cache_write;
  if (has_count(usage, "output_tokens")) into.output = count_of(usage, "output_tokens");
}

namespace {

json openai_usage(const core::Usage& usage) {
  return {{"prompt_tokens", usage.input},
          {"completion_tokens", usage.output},
          {"total_tokens", usage.input + usage.output},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_input}}}};
}

// As the Vercel AI SDK and Anthropic's own OpenAI bridge map them.
const char* finish_reason(std::string_view stop_reason) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") {
    return "length";
  }
  if (stop_reason == "tool_use") return "tool_calls";
  // Anthropic's refusal; Bedrock's guardrail and content filter.
  if (stop_reason == "refusal" || stop_reason == "guardrail_intervened" ||
      stop_reason == "content_filtered") {
    return "content_filter";
  }
  return "stop";  // end_turn, stop_sequence, pause_turn
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Anthropic's error type as OpenAI's (type, code): SDKs decide on the status, people on these.
std::pair<std::string, std::string> openai_kind(const std::string& type, bool exhausted) {
  if (exhausted) return {"insufficient_quota", "insufficient_quota"};
  if (type == "rate_limit_error") return {"requests", "rate_limit_exceeded"};
  if (type == "invalid_request_error") return {"invalid_request_error", ""};
  if (type == "overloaded_error") return {"server_error", "overloaded"};
  return {type.empty() ? "api_error" : type, ""};
}

std::string sse(const json& chunk) { return "data: " + dump_lossy(chunk) + "\n\n"; }

// The chunks of one translated stream. OpenAI numbers tool calls 0, 1, ... across the
// message; Anthropic numbers content blocks, text and tool_use alike. Native (a /v1/messages
// client), it only reads: usage, the end, an error.
}  // namespace

MessagesStream::MessagesStream(bool native, bool client_wants_usage)
    : StreamTranslator(native), wants_usage_(client_wants_usage), created_(now_seconds()) {}

void MessagesStream::on_event(std::string_view data, std::string& out) {
  if (native()) {
    // Whatever it would write is dropped: the client gets Anthropic's own events.
    scratch_.clear();
    translate_text(data, scratch_);
  } else {
    translate_text(data, out);
  }
}

void MessagesStream::translate_text(std::string_view data, std::string& out) {
  if (state_.finished || !shallow(data)) return;
  translate(json::parse(data, nullptr, false), out);
}

void MessagesStream::translate(const json& event, std::string& out) {
  if (state_.finished || !event.is_object()) return;
  const std::string type = text_of(event, "type");
  if (type == "message_start") {
    const json& message = member(event, "message");
    id_ = text_of(message, "id");
    model_ = text_of(message, "model");
    usage(member(message, "usage"));
  } else if (type == "content_block_start") {
    const json& block = member(event, "content_block");
    if (text_of(block, "type") == "tool_use") {
      // OpenAI numbers tool calls 0, 1, ...; Anthropic numbers blocks, text ones included.
      const int tool = static_cast<int>(tool_of_block_.size());
      tool_of_block_[block_index(event)] = {tool, false};
      out += chunk(
          {{"tool_calls",
            json::array({{{"index", tool},
                          {"id", text_of(block, "id")},
                          {"type", "function"},
                          {"function", {{"name", text_of(block, "name")}, {"arguments", ""}}}}})}});
    } else if (!text_of(block, "text").empty()) {
      out += chunk({{"content", block["text"]}});
    }
  } else if (type == "content_block_delta") {
    const json& delta = member(event, "delta");
    const std::string kind = text_of(delta, "type");
    const auto tool = tool_of_block_.find(block_index(event));
    if (kind == "text_delta") {
      const std::string text = text_of(delta, "text");
      state_.generated_chars += text.size();
      out += chunk({{"content", text}});
    } else if (kind == "input_json_delta" && tool != tool_of_block_.end()) {
      const std::string fragment = text_of(delta, "partial_json");
      state_.generated_chars += fragment.size();
      tool->second.has_input = tool->second.has_input || !fragment.empty();
      out += arguments(tool->second.index, fragment);
    }  // thinking and signature deltas are not relayed
  } else if (type == "content_block_stop") {
    // A tool called without input: "{}", as the whole answer has it, so that clients can
    // parse the arguments either way.
    const auto tool = tool_of_block_.find(block_index(event));
    if (tool != tool_of_block_.end() && !tool->second.has_input) {
      tool->second.has_input = true;
      out += arguments(tool->second.index, "{}");
    }
  } else if (type == "message_delta") {
    if (event.contains("usage")) usage(event["usage"]);
    if (event.contains("delta") && event["delta"].is_object()) {
      finish_ = finish_reason(text_of(event["delta"], "stop_reason"));
    }
  } else if (type == "message_stop") {
    if (!state_.content) out += chunk(json::object());  // the role chunk, for an empty answer
    json last = base();
    last["choices"] = json::array({{{"index", 0},
                                    {"delta", json::object()},
                                    {"finish_reason", finish_},
                                    {"logprobs", nullptr}}});
    out += sse(last);
    if (wants_usage_) {
      json tail = base();
      tail["choices"] = json::array();
      tail["usage"] = openai_usage(state_.usage.value_or(core::Usage{}));
      out += sse(tail);
    }
    out += "data: [DONE]\n\n";
    state_.finished = true;
  } else if (type == "error") {
    // After the 200: the client's stream ends with an error event and no [DONE].
    const json& error = event.contains("error") ? event["error"] : json();
    const auto [openai_type, code] = openai_kind(text_of(error, "type"), false);
    json body = {{"error",
                  {{"message", text_of(error, "message")},
                   {"type", openai_type},
                   {"param", nullptr},
                   {"code", code.empty() ? json() : json(code)}}}};
    out += sse(body);
    // Anthropic counts output only in message_delta, which a failed stream may never send:
    // what was generated is estimated from the text relayed. (With no usage at all, as
    // Bedrock's before its metadata, the gateway estimates the prompt too.)
    if (state_.usage) {
      state_.usage->output =
          std::max(state_.usage->output, api::estimate_usage(0, state_.generated_chars).output);
    }
    state_.failed = true;
    state_.finished = true;
  }  // ping: a keep-alive
}

int MessagesStream::block_index(const json& event) {
  const json& index = member(event, "index");
  return index.is_number_integer() ? index.get<int>() : -1;
}

std::string MessagesStream::arguments(int tool, std::string_view fragment) {
  return chunk(
      {{"tool_calls", json::array({{{"index", tool}, {"function", {{"arguments", fragment}}}}})}});
}

void MessagesStream::usage(const json& reported) {
  if (!reported.is_object()) return;
  core::Usage next = state_.usage.value_or(core::Usage{});
  read_messages_usage(reported, next);
  state_.usage = next;
}

json MessagesStream::base() const {
  return {
      {"id", id_}, {"object", "chat.completion.chunk"}, {"created", created_}, {"model", model_}};
}

// The first chunk also carries the assistant's role. The role waits for the first content, so
// that a stream failing before any gives the client nothing and the request may still go
// elsewhere.
std::string MessagesStream::chunk(json delta) {
  if (!state_.content) {
    state_.content = true;
    delta["role"] = "assistant";
    if (!delta.contains("content") && !delta.contains("tool_calls")) delta["content"] = "";
  }
  json c = base();
  c["choices"] = json::array({{{"index", 0},
                               {"delta", std::move(delta)},
                               {"finish_reason", nullptr},
                               {"logprobs", nullptr}}});
  return sse(c);
}

std::optional<core::Usage> messages_usage_of(std::string_view text) {
  if (!shallow(text)) return std::nullopt;
  const json message = json::parse(text, nullptr, false);
  const json& reported = member(message, "usage");
  if (!reported.is_object()) return std::nullopt;
  core::Usage usage;
  read_messages_usage(reported, usage);
  return usage;
}

std::optional<core::Usage> chat_completion_of(const json& message, std::string_view fallback_model,
                                              std::string& body) {
  std::string text;
  json tool_calls = json::array();
  if (message.contains("content") && message["content"].is_array()) {
    for (const json& block : message["content"]) {
      const std::string type = text_of(block, "type");
      if (type == "text") text += text_of(block, "text");
      if (type == "tool_use") {
        tool_calls.push_back({{"id", text_of(block, "id")},
                              {"type", "function"},
                              {"function",
                               {{"name", text_of(block, "name")},
                                {"arguments", block.contains("input") ? block["input"].dump()
                                                                      : std::string("{}")}}}});
      }
    }
  }
  json reply = {{"role", "assistant"},
                {"content", text.empty() && !tool_calls.empty() ? json() : json(text)},
                {"refusal", nullptr}};
  if (!tool_calls.empty()) reply["tool_calls"] = std::move(tool_calls);
  std::optional<core::Usage> usage;
  if (message.contains("usage") && message["usage"].is_object()) {
    usage.emplace();
    read_messages_usage(message["usage"], *usage);
  }
  json completion = {
      {"id", text_of(message, "id")},
      {"object", "chat.completion"},
      {"created", now_seconds()},
      {"model", text_of(message, "model", fallback_model)},
      {"choices", json::array({{{"index", 0},
                                {"message", std::move(reply)},
                                {"finish_reason", finish_reason(text_of(message, "stop_reason"))},
                                {"logprobs", nullptr}}})}};
  if (usage) completion["usage"] = openai_usage(*usage);
  body = dump_lossy(completion);
  return usage;
}

std::string openai_error_body(std::string_view type, std::string message, bool exhausted) {
  const auto [openai_type, code] = openai_kind(std::string(type), exhausted);
  return dump_lossy(json{{"error",
                          {{"message", std::move(message)},
                           {"type", openai_type},
                           {"param", nullptr},
                           {"code", code.empty() ? json() : json(code)}}}});
}

}  // namespace fulcrum::provider
