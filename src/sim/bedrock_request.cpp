#include "bedrock_request.hpp"

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "anthropic_wire.hpp"

namespace fulcrum::sim {
namespace {

using nlohmann::json;
using Refusal = std::optional<std::string>;

std::string at(std::string_view path, std::size_t i) {
  return std::string(path) + "." + std::to_string(i);
}

// The key of a one-member union (a content block, a tool choice), or "" when it has none or
// several.
std::string only_key(const json& value) {
  if (!value.is_object() || value.size() != 1) return "";
  return value.begin().key();
}

// value[key], or null when value is not an object or has no such member.
const json& member(const json& value, const char* key) {
  static const json kNone;
  if (!value.is_object()) return kNone;
  const auto found = value.find(key);
  return found == value.end() ? kNone : *found;
}

bool has_string(const json& value, const char* key) {
  return value.is_object() && value.contains(key) && value[key].is_string();
}

bool is_base64(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0) return false;
  const std::size_t data = text.find_last_not_of('=') + 1;
  if (text.size() - data > 2) return false;
  return std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(data), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

// Bedrock's deserializer refuses members its model does not have, a `model` key included.
Refusal extraneous_key(const json& object, std::initializer_list<std::string_view> allowed,
                       std::string_view path) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      const std::string where = path.empty() ? key : std::string(path) + "." + key;
      return "Malformed input request: extraneous key [" + where +
             "] is not permitted, please reformat your input and try again.";
    }
  }
  return std::nullopt;
}

bool is_cache_point(const json& block) {
  return only_key(block) == "cachePoint" && string_at(block["cachePoint"], "type", "") == "default";
}

Refusal image_refusal(const json& image, const std::string& path) {
  const std::string format = string_at(image, "format", "");
  if (format != "png" && format != "jpeg" && format != "gif" && format != "webp") {
    return path + ".image.format: must be one of png, jpeg, gif, webp";
  }
  const json& source = member(image, "source");
  if (only_key(source) != "bytes" || !source["bytes"].is_string() ||
      !is_base64(source["bytes"].get<std::string>())) {
    return path + ".image.source: must be {\"bytes\": <non-empty base64>}";
  }
  return std::nullopt;
}

Refusal tool_result_refusal(const json& result, const std::string& path) {
  if (!has_string(result, "toolUseId")) return path + ".toolResult.toolUseId: required";
  const json& content = member(result, "content");
  if (!content.is_array()) return path + ".toolResult.content: must be an array";
  for (std::size_t i = 0; i < content.size(); ++i) {
    const std::string kind = only_key(content[i]);
    const std::string where = at(path + ".toolResult.content", i);
    if (kind == "image") {
      if (auto why = image_refusal(content[i]["image"], where)) return why;
      continue;
    }
    const bool ok = (kind == "text" && content[i]["text"].is_string()) || kind == "json";
    if (!ok) return where + ": must be {\"text\"}, {\"json\"} or {\"image\"}";
    // As AWS: blank text is refused here too.
    if (kind == "text" && content[i]["text"].get_ref<const std::string&>().empty()) {
      return "The text field in the ToolResultContentBlock object at " + where +
             " is blank. Add text to the text field, and try again.";
    }
  }
  const std::string status = string_at(result, "status", "success");
  if (status != "success" && status != "error") {
    return path + ".toolResult.status: must be success or error";
  }
  return std::nullopt;
}

// One content block: exactly one of text, image, toolUse, toolResult (or a cache point).
Refusal block_refusal(const json& block, const std::string& path, bool& uses_tools) {
  const std::string kind = only_key(block);
  if (kind == "text") {
    if (!block["text"].is_string()) return path + ".text: must be a string";
    if (block["text"].get_ref<const std::string&>().empty()) {
      return "The text field in the ContentBlock object at " + path +
             " is blank. Add text to the text field, and try again.";
    }
    return std::nullopt;
  }
  if (kind == "image") return image_refusal(block["image"], path);
  if (kind == "toolUse") {
    uses_tools = true;
    const json& use = block["toolUse"];
    if (!has_string(use, "toolUseId") || !has_string(use, "name") ||
        !member(use, "input").is_object()) {
      return path + ".toolUse: needs toolUseId, name and an input object";
    }
    return std::nullopt;
  }
  if (kind == "toolResult") {
    uses_tools = true;
    return tool_result_refusal(block["toolResult"], path);
  }
  if (is_cache_point(block)) return std::nullopt;
  return path + ": a content block must have exactly one of text, image, toolUse, toolResult";
}

Refusal messages_refusal(const json& body, bool& uses_tools) {
  const json& messages = member(body, "messages");
  if (!messages.is_array() || messages.empty()) {
    return "1 validation error detected: Value at 'messages' failed to satisfy constraint: "
           "Member must have length greater than or equal to 1";
  }
  for (std::size_t m = 0; m < messages.size(); ++m) {
    const std::string path = at("messages", m);
    const std::string role = string_at(messages[m], "role", "");
    if (role != "user" && role != "assistant") {
      std::string why = "1 validation error detected: Value '";
      why += role;
      why += "' at '";
      why += path;
      why +=
          ".member.role' failed to satisfy constraint: Member must satisfy enum value set: "
          "[user, assistant]";
      return why;
    }
    const json& content = member(messages[m], "content");
    if (!content.is_array() || content.empty()) {
      return "The content field in the Message object at " + path + " is empty.";
    }
    for (std::size_t b = 0; b < content.size(); ++b) {
      if (auto why = block_refusal(content[b], at(path + ".content", b), uses_tools)) return why;
    }
  }
  return std::nullopt;
}

Refusal system_refusal(const json& system) {
  if (!system.is_array()) return "system: must be an array of {\"text\"} blocks";
  for (std::size_t i = 0; i < system.size(); ++i) {
    if (!is_cache_point(system[i]) &&
        !(only_key(system[i]) == "text" && system[i]["text"].is_string())) {
      return at("system", i) + ": must be {\"text\": <string>}";
    }
  }
  return std::nullopt;
}

Refusal inference_refusal(const json& config) {
  if (!config.is_object()) return "inferenceConfig: must be an object";
  if (auto why = extraneous_key(config, {"maxTokens", "temperature", "topP", "stopSequences"},
                                "inferenceConfig")) {
    return why;
  }
  if (config.contains("maxTokens") &&
      !(config["maxTokens"].is_number_integer() && config["maxTokens"].get<long long>() >= 1)) {
    return "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy "
           "constraint: Member must have value greater than or equal to 1";
  }
  for (const char* key : {"temperature", "topP"}) {
    if (config.contains(key) && !(config[key].is_number() && config[key].get<double>() >= 0 &&
                                  config[key].get<double>() <= 1)) {
      return std::string("inferenceConfig.") + key + ": must be a number from 0 to 1";
    }
  }
  if (config.contains("stopSequences")) {
    const json& stops = config["stopSequences"];
    if (!stops.is_array() ||
        !std::all_of(stops.begin(), stops.end(), [](const json& s) { return s.is_string(); })) {
      return "inferenceConfig.stopSequences: must be an array of strings";
    }
  }
  return std::nullopt;
}

Refusal tool_choice_refusal(const json& choice) {
  const std::string kind = only_key(choice);
  if ((kind == "auto" || kind == "any") && choice[kind].is_object()) return std::nullopt;
  if (kind == "tool" && has_string(choice["tool"], "name")) return std::nullopt;
  return "toolConfig.toolChoice: must be exactly one of {\"auto\":{}}, {\"any\":{}}, "
         "{\"tool\":{\"name\"}}";
}

Refusal tool_config_refusal(const json& config) {
  if (!config.is_object()) return "toolConfig: must be an object";
  if (auto why = extraneous_key(config, {"tools", "toolChoice"}, "toolConfig")) return why;
  const json& tools = member(config, "tools");
  if (!tools.is_array() || tools.empty()) return "toolConfig.tools: at least one tool is required";
  for (std::size_t i = 0; i < tools.size(); ++i) {
    if (is_cache_point(tools[i])) continue;
    const json& spec = member(tools[i], "toolSpec");
    const json& schema = member(spec, "inputSchema");
    const bool described = !spec.contains("description") || spec["description"].is_string();
    if (only_key(tools[i]) != "toolSpec" || !has_string(spec, "name") || !described ||
        only_key(schema) != "json" || !schema["json"].is_object()) {
      return at("toolConfig.tools", i) +
             ": must be {\"toolSpec\": {name, description?, inputSchema: {json: {...}}}}";
    }
  }
  if (config.contains("toolChoice")) return tool_choice_refusal(config["toolChoice"]);
  return std::nullopt;
}

unsigned count_block_words(const json& block) {
  const std::string kind = only_key(block);
  if (kind == "text") return count_words(string_at(block, "text", ""));
  if (kind == "json") return count_words(block["json"].dump());
  if (kind != "toolResult") return 0;
  unsigned total = 0;
  for (const json& part : block["toolResult"].value("content", json::array())) {
    total += count_block_words(part);
  }
  return total;
}

bool last_turn_is_tool_result(const json& messages) {
  const json& content = messages.back().value("content", json::array());
  return std::any_of(content.begin(), content.end(),
                     [](const json& block) { return only_key(block) == "toolResult"; });
}

}  // namespace

std::optional<std::string> converse_refusal(const json& body) {
  if (!body.is_object()) return "Malformed input request: the request body is not a JSON object.";
  if (auto why = extraneous_key(
          body,
          {"messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields",
           "additionalModelResponseFieldPaths", "guardrailConfig", "performanceConfig",
           "requestMetadata", "promptVariables", "serviceTier"},
          "")) {
    return why;
  }
  bool uses_tools = false;
  if (auto why = messages_refusal(body, uses_tools)) return why;
  if (body.contains("system")) {
    if (auto why = system_refusal(body["system"])) return why;
  }
  if (body.contains("inferenceConfig")) {
    if (auto why = inference_refusal(body["inferenceConfig"])) return why;
  }
  if (body.contains("toolConfig")) {
    if (auto why = tool_config_refusal(body["toolConfig"])) return why;
  } else if (uses_tools) {
    return "The toolConfig field must be defined when using toolUse and toolResult content "
           "blocks.";
  }
  return std::nullopt;
}

std::optional<std::string> invoke_refusal(const json& body) {
  // InvokeModel checks the body against a JSON schema; its messages point into it ("#").
  if (!body.is_object()) return "Malformed input request: #: expected type: JSONObject";
  for (const char* key : {"model", "stream"}) {
    if (body.contains(key)) {
      return "Malformed input request: #: extraneous key [" + std::string(key) +
             "] is not permitted, please reformat your input and try again.";
    }
  }
  if (!body.contains("anthropic_version")) {
    return "Malformed input request: #: required key [anthropic_version] not found";
  }
  if (body["anthropic_version"] != "bedrock-2023-05-31") {
    return "Malformed input request: #: invalid anthropic_version";
  }
  return anthropic_body_refusal(body, "2023-06-01");
}

unsigned count_converse_prompt_tokens(const json& body) {
  unsigned total = 0;
  for (const json& block : body.value("system", json::array())) total += count_block_words(block);
  for (const json& message : body.value("messages", json::array())) {
    for (const json& block : message.value("content", json::array())) {
      total += count_block_words(block);
    }
  }
  return total;
}

MessagePlan plan_converse(const json& body, const Generation& g, unsigned cache_read,
                          unsigned cache_write) {
  PlanAsk ask;
  ask.tool_id_prefix = "tooluse_sim_";
  const json& config = body.value("inferenceConfig", json::object());
  if (config.contains("maxTokens")) {
    const auto max = config["maxTokens"].get<long long>();  // at least 1 (converse_refusal)
    ask.max_tokens = static_cast<unsigned>(std::min<long long>(max, 1u << 30));
  }
  for (const json& stop : config.value("stopSequences", json::array())) {
    ask.stop_sequences.push_back(stop.get<std::string>());
  }
  const json& tools = body.value("toolConfig", json::object());
  if (tools.contains("tools") && !last_turn_is_tool_result(body["messages"])) {
    std::vector<std::string> offered;
    for (const json& tool : tools["tools"]) {
      if (tool.contains("toolSpec")) offered.push_back(tool["toolSpec"]["name"].get<std::string>());
    }
    const json& choice = tools.value("toolChoice", json::object());
    const std::optional<std::string> forced =
        choice.contains("tool") ? std::optional(choice["tool"]["name"].get<std::string>())
                                : std::nullopt;
    ask.tools_called = tools_to_call(offered, forced, true);
  }
  return plan_message(ask, g, cache_read, cache_write);
}

}  // namespace fulcrum::sim
