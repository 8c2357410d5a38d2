// OpenAI chat completions → the Messages shape (messages_request.hpp), shared by providers
// anthropic and bedrock.
#include "messages_request.hpp"

#include <algorithm>
#include <cctype>

#include "json_access.hpp"

namespace fulcrum::provider {
namespace {

using nlohmann::json;

// A request that fails to translate: the first problem found, as the client's 400.
class Refusal {
 public:
  explicit Refusal(std::string_view provider) : who_("provider " + std::string(provider)) {}
  const std::string& who() const { return who_; }  // "provider anthropic", for messages
  void set(api::ApiError error) {
    if (!error_) error_ = std::move(error);
  }
  explicit operator bool() const { return error_.has_value(); }
  api::ApiError take() { return std::move(*error_); }

 private:
  std::string who_;
  std::optional<api::ApiError> error_;
};

// "data:image/png;base64,AAAA" → {type: base64, media_type, data}; anything else by URL.
json image_source(const std::string& url) {
  constexpr std::string_view kMarker = ";base64,";
  if (url.starts_with("data:")) {
    const auto marker = url.find(kMarker);
    if (marker != std::string::npos) {
      return {{"type", "base64"},
              {"media_type", url.substr(5, marker - 5)},
              {"data", url.substr(marker + kMarker.size())}};
    }
  }
  return {{"type", "url"}, {"url", url}};
}

// A message's content as Anthropic content blocks.
json content_blocks(const json& content, const std::string& where, Refusal& refusal) {
  json blocks = json::array();
  if (content.is_string()) {
    if (!content.get_ref<const std::string&>().empty()) {
      blocks.push_back({{"type", "text"}, {"text", content}});
    }
    return blocks;
  }
  if (!content.is_array()) return blocks;  // null: an assistant turn of tool calls only
  for (std::size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string type = text_of(part, "type");
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      blocks.push_back({{"type", "text"}, {"text", part["text"]}});
    } else if (type == "image_url" && part.contains("image_url")) {
      const json& image = part["image_url"];
      const json& url = image.is_object() ? member(image, "url") : image;
      if (!url.is_string()) {
        refusal.set(api::ApiError::invalid_request("image_url.url must be a string",
                                                   where + "[" + std::to_string(i) + "]"));
        continue;
      }
      blocks.push_back({{"type", "image"}, {"source", image_source(url.get<std::string>())}});
    } else {
      refusal.set(unsupported_parameter("Content parts of type '" + type +
                                            "' are not supported by " + refusal.who() +
                                            " (text and image_url are).",
                                        where + "[" + std::to_string(i) + "]"));
    }
  }
  return blocks;
}

// An assistant's tool_calls as tool_use blocks: arguments (a JSON string) become input.
void tool_use_blocks(const json& calls, const std::string& where, json& blocks, Refusal& refusal) {
  if (!calls.is_array()) return;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const json& call = calls[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
      refusal.set(api::ApiError::invalid_request("a tool call needs a function", at));
      continue;
    }
    const json& function = call["function"];
    const std::string arguments = text_of(function, "arguments", "{}");
    // Its nesting is the client's to choose and was never checked (it was a string).
    json input = shallow(arguments)
                     ? json::parse(arguments.empty() ? "{}" : arguments, nullptr, false)
                     : json();
    if (!input.is_object()) {
      refusal.set(api::ApiError::invalid_request(
          "function.arguments must be a JSON object in a string: Anthropic takes tool input "
          "as an object",
          at + ".function.arguments"));
      continue;
    }
    blocks.push_back({{"type", "tool_use"},
                      {"id", text_of(call, "id")},
                      {"name", text_of(function, "name")},
                      {"input", std::move(input)}});
  }
}

// Anthropic alternates user and assistant turns: consecutive turns of one role (a user turn
// after tool results, parallel tool results) become one.
void append_turn(json& messages, const char* role, json blocks) {
  if (blocks.empty()) return;
  if (!messages.empty() && messages.back()["role"] == role) {
    for (auto& block : blocks) messages.back()["content"].push_back(std::move(block));
    return;
  }
  messages.push_back({{"role", role}, {"content", std::move(blocks)}});
}

struct Conversation {
  std::string system;
  json messages = json::array();
};

Conversation conversation(const json& in, Refusal& refusal) {
  Conversation out;
  const json& messages = in["messages"];
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    const std::string role = text_of(m, "role");
    const json& content = member(m, "content");
    if (role == "system" || role == "developer") {
      // Hoisted to Anthropic's one system prompt, in order, as Anthropic's own bridge does.
      for (const json& block : content_blocks(content, where + ".content", refusal)) {
        if (block["type"] != "text") {
          refusal.set(
              unsupported_parameter("A system message can hold only text.", where + ".content"));
          continue;
        }
        if (!out.system.empty()) out.system += "\n";
        out.system += block["text"].get<std::string>();
      }
    } else if (role == "user") {
      append_turn(out.messages, "user", content_blocks(content, where + ".content", refusal));
    } else if (role == "assistant") {
      json blocks = content_blocks(content, where + ".content", refusal);
      tool_use_blocks(member(m, "tool_calls"), where + ".tool_calls", blocks, refusal);
      append_turn(out.messages, "assistant", std::move(blocks));
    } else if (role == "tool") {
      json result = {{"type", "tool_result"}, {"tool_use_id", text_of(m, "tool_call_id")}};
      json blocks = content_blocks(content, where + ".content", refusal);
      if (!blocks.empty()) result["content"] = std::move(blocks);
      append_turn(out.messages, "user", json::array({std::move(result)}));
    } else {
      refusal.set(unsupported_parameter(
          "Messages of role '" + role + "' are not supported by " + refusal.who() + ".",
          where + ".role"));
    }
  }
  return out;
}

json tools(const json& list, Refusal& refusal) {
  json out = json::array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& tool = list[i];
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (text_of(tool, "type") != "function" || !member(tool, "function").is_object()) {
      refusal.set(
          unsupported_parameter("Only function tools are supported by " + refusal.who() + ".", at));
      continue;
    }
    const json& function = tool["function"];
    const json& parameters = member(function, "parameters");
    json translated = {
        {"name", text_of(function, "name")},
        {"input_schema", parameters.is_object() ? parameters : json{{"type", "object"}}}};
    if (member(function, "description").is_string()) {
      translated["description"] = function["description"];
    }
    out.push_back(std::move(translated));
  }
  return out;
}

// OpenAI's tool_choice (and parallel_tool_calls) as Anthropic's tool_choice.
std::optional<json> tool_choice(const json& in, Refusal& refusal) {
  std::optional<json> choice;
  if (in.contains("tool_choice")) {
    const json& given = in["tool_choice"];
    if (given == "auto") choice = json{{"type", "auto"}};
    if (given == "none") choice = json{{"type", "none"}};
    if (given == "required") choice = json{{"type", "any"}};
    if (text_of(given, "type") == "function" && member(given, "function").is_object()) {
      choice = json{{"type", "tool"}, {"name", text_of(given["function"], "name")}};
    }
    if (!choice) {
      refusal.set(unsupported_parameter("tool_choice must be auto, none, required or a function.",
                                        "tool_choice"));
    }
  }
  const bool has_tools = member(in, "tools").is_array() && !in["tools"].empty();
  if (member(in, "parallel_tool_calls") == false && has_tools) {
    if (!choice) choice = json{{"type", "auto"}};
    if ((*choice)["type"] != "none") (*choice)["disable_parallel_tool_use"] = true;
  }
  return choice;
}

// Fields with no Anthropic equivalent that a request may carry harmlessly: dropped, and named
// in the warning. Anything else Fulcrum does not know is named too.
bool handled(std::string_view key) {
  constexpr std::string_view kHandled[] = {"model",
                                           "messages",
                                           "max_tokens",
                                           "max_completion_tokens",
                                           "stop",
                                           "stream",
                                           "stream_options",
                                           "tools",
                                           "tool_choice",
                                           "parallel_tool_calls",
                                           "temperature",
                                           "top_p",
                                           "user",
                                           "n",
                                           "logprobs",
                                           "top_logprobs",
                                           "response_format",
                                           "modalities",
                                           "audio"};
  for (std::string_view known : kHandled) {
    if (key == known) return true;
  }
  return false;
}

// A name safe to repeat in a header: the client chose it.
bool plain_name(std::string_view key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  }
  return true;
}

// Features Anthropic does not have, refused so the client learns it from Fulcrum.
void refuse_missing_features(const json& in, Refusal& refusal) {
  if (!member(in, "n").is_null() && in["n"] != 1) {
    refusal.set(unsupported_parameter("n must be 1: " + refusal.who() + " makes one choice.", "n"));
  }
  if (is_true(in, "logprobs") || !member(in, "top_logprobs").is_null()) {
    refusal.set(
        unsupported_parameter("logprobs are not supported by " + refusal.who() + ".", "logprobs"));
  }
  const json& format = member(in, "response_format");
  if (format.is_object() && text_of(format, "type", "text") != "text") {
    refusal.set(unsupported_parameter("response_format " + text_of(format, "type") +
                                          " is not supported by " + refusal.who() +
                                          ": describe the JSON in the prompt, or "
                                          "use a tool.",
                                      "response_format"));
  }
  const json& modalities = member(in, "modalities");
  const bool audio_out = modalities.is_array() && std::find(modalities.begin(), modalities.end(),
                                                            "audio") != modalities.end();
  if (!member(in, "audio").is_null() || audio_out) {
    refusal.set(
        unsupported_parameter("Audio is not supported by " + refusal.who() + ".", "modalities"));
  }
}

}  // namespace

api::ApiError unsupported_parameter(std::string message, std::string param) {
  return api::ApiError::invalid_request(std::move(message), std::move(param),
                                        "unsupported_parameter");
}

core::Expected<MessagesRequest, api::ApiError> to_messages(const json& in,
                                                           const MessagesDialect& dialect) {
  Refusal refusal(dialect.provider);
  if (!in.contains("messages") || !in["messages"].is_array()) {
    return core::Unexpected{unsupported_parameter(
        refusal.who() + " serves chat completions with a messages list only.", "messages")};
  }
  refuse_missing_features(in, refusal);
  Conversation talk = conversation(in, refusal);

  MessagesRequest result;
  json& out = result.body;
  out = json::object();
  if (!talk.system.empty()) out["system"] = std::move(talk.system);
  out["messages"] = std::move(talk.messages);
  const json& max = member(in, "max_completion_tokens").is_null() ? member(in, "max_tokens")
                                                                  : in["max_completion_tokens"];
  if (max.is_number_unsigned()) {
    out["max_tokens"] = max;
  } else if (dialect.default_max_tokens > 0) {
    out["max_tokens"] = dialect.default_max_tokens;
  }
  const json& stop = member(in, "stop");
  if (stop.is_string()) out["stop_sequences"] = json::array({stop});
  if (stop.is_array() && !stop.empty()) out["stop_sequences"] = stop;
  if (member(in, "tools").is_array() && !in["tools"].empty()) {
    out["tools"] = tools(in["tools"], refusal);
  }
  if (auto choice = tool_choice(in, refusal)) out["tool_choice"] = std::move(*choice);
  if (member(in, "user").is_string()) out["metadata"] = {{"user_id", in["user"]}};

  std::vector<std::string>& dropped = result.dropped;
  for (const char* sampling : {"temperature", "top_p"}) {
    if (member(in, sampling).is_null()) continue;
    if (dialect.takes_sampling) {
      // Anthropic's range is 0 to 1, OpenAI's 0 to 2.
      const bool clamp = std::string_view(sampling) == "temperature" && in[sampling].is_number() &&
                         in[sampling].get<double>() > 1;
      out[sampling] = clamp ? json(1.0) : in[sampling];
      if (clamp) dropped.emplace_back("temperature above 1 (clamped to 1)");
    } else if (dialect.reject_unsupported) {
      refusal.set(unsupported_parameter(
          std::string(sampling) + " is not accepted by " + std::string(dialect.version) + ".",
          sampling));
    } else {
      dropped.emplace_back(sampling);
    }
  }
  // At most a few names in the header; the rest counted.
  constexpr std::size_t kMaxNamed = 16;
  std::size_t unnamed = 0;
  for (const auto& [key, value] : in.items()) {
    if (handled(key)) continue;
    if (plain_name(key) && dropped.size() < kMaxNamed) {
      dropped.push_back(key);
    } else {
      ++unnamed;
    }
  }
  if (unnamed > 0) dropped.push_back(std::to_string(unnamed) + " other fields");
  if (refusal) return core::Unexpected{refusal.take()};
  return result;
}

std::string dropped_warning(std::string_view provider, const std::vector<std::string>& dropped) {
  if (dropped.empty()) return {};
  std::string warning = "provider " + std::string(provider) + " ignored:";
  for (std::size_t i = 0; i < dropped.size(); ++i) warning += (i ? ", " : " ") + dropped[i];
  return warning;
}

}  // namespace fulcrum::provider
