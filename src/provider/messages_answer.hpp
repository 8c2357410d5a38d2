#pragma once
// The Messages shape → OpenAI chat completions: a message becomes a chat.completion, its
// stream of typed events (message_start, content blocks, message_delta, message_stop, error)
// becomes chat chunks. Anthropic answers in this shape; Bedrock's Converse answers are put
// into it first, so both read usage and stop reasons by one set of rules.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fulcrum/core/usage.hpp"
#include "fulcrum/provider/provider.hpp"

namespace fulcrum::provider {

// Messages usage (a message's, message_start's or message_delta's) over what is known so far:
// input_tokens exclude both cache buckets; a count present replaces the earlier one, a count
// absent or null leaves it as it was.
void read_messages_usage(const nlohmann::json& usage, core::Usage& into);

// The usage of a whole Messages API message, as sent to a /v1/messages client (not translated).
std::optional<core::Usage> messages_usage_of(std::string_view message);

// `message` (a Messages API message) as a chat.completion body in `body`; its usage.
// `fallback_model` names the model when the message does not.
std::optional<core::Usage> chat_completion_of(const nlohmann::json& message,
                                              std::string_view fallback_model, std::string& body);

// {"error": {message, type, param, code}} from a provider error's Messages type
// ("rate_limit_error", "overloaded_error"...).
std::string openai_error_body(std::string_view type, std::string message, bool exhausted);

// Chunks of one stream of Messages events. OpenAI numbers tool calls 0, 1, ... across the
// message; the Messages shape numbers content blocks, text and tool_use alike. Native (a
// /v1/messages client), it only reads: usage, the end, an error.
class MessagesStream : public StreamTranslator {
 public:
  MessagesStream(bool native, bool client_wants_usage);

  void on_event(std::string_view data, std::string& out) override;

 protected:
  // One parsed event, its chunks appended to `out`.
  void translate(const nlohmann::json& event, std::string& out);

 private:
  void translate_text(std::string_view data, std::string& out);
  static int block_index(const nlohmann::json& event);
  std::string arguments(int tool, std::string_view fragment);
  void usage(const nlohmann::json& reported);
  nlohmann::json base() const;
  std::string chunk(nlohmann::json delta);

  bool wants_usage_;
  std::string scratch_;
  std::string id_;
  std::string model_;
  std::int64_t created_;
  struct ToolBlock {
    int index = 0;           // OpenAI's tool-call index
    bool has_input = false;  // a non-empty input fragment came
  };
  std::map<int, ToolBlock> tool_of_block_;  // by the Messages content block index
  std::string finish_ = "stop";
};

}  // namespace fulcrum::provider
