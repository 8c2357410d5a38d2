#include "anthropic_wire.hpp"

namespace fulcrum::sim {
namespace {

using nlohmann::json;

std::string sse(const json& event) {
  return "event: " + event["type"].get<std::string>() + "\ndata: " + event.dump() + "\n\n";
}

unsigned count_blocks(const json& content) {
  unsigned total = 0;
  if (content.is_string()) {
    return count_prompt_tokens(api::Operation::completions, json{{"prompt", content}});
  }
  if (!content.is_array()) return 0;
  for (const json& block : content) {
    if (!block.is_object()) continue;
    if (block.contains("text")) total += count_blocks(block["text"]);
    if (block.value("type", "") == "tool_result" && block.contains("content")) {
      total += count_blocks(block["content"]);
    }
  }
  return total;
}

bool last_turn_is_tool_result(const json& messages) {
  if (!messages.is_array() || messages.empty()) return false;
  const json& content = messages.back().value("content", json());
  if (!content.is_array()) return false;
  for (const json& block : content) {
    if (block.is_object() && block.value("type", "") == "tool_result") return true;
  }
  return false;
}

json usage_start(const Generation& g, const MessagePlan& plan) {
  const unsigned cached = plan.cache_read + plan.cache_write;
  return {{"input_tokens", g.prompt_tokens > cached ? g.prompt_tokens - cached : 0},
          {"cache_creation_input_tokens", plan.cache_write},
          {"cache_read_input_tokens", plan.cache_read},
          {"output_tokens", 1}};
}

std::string message_id(const Generation& g) { return "msg_sim_" + std::to_string(g.serial); }

}  // namespace

std::optional<std::string> anthropic_refusal(const json& body, std::string_view version) {
  if (body.is_object() && !(body.contains("model") && body["model"].is_string())) {
    return "model: Field required";
  }
  return anthropic_body_refusal(body, version);
}

std::optional<std::string> anthropic_body_refusal(const json& body, std::string_view version) {
  if (!body.is_object()) return "The request body is not a JSON object.";
  if (!body.contains("max_tokens") || !body["max_tokens"].is_number_unsigned()) {
    return "max_tokens: Field required";
  }
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return "messages: at least one message is required";
  }
  if (version != "2023-06-01") {
    for (const char* sampling : {"temperature", "top_p", "top_k"}) {
      if (body.contains(sampling)) {
        return std::string(sampling) + ": Extra inputs are not permitted in API version " +
               std::string(version);
      }
    }
  }
  for (const json& message : body["messages"]) {
    const std::string role = message.is_object() ? message.value("role", "") : "";
    if (role != "user" && role != "assistant") {
      return "messages: roles must be user or assistant, not '" + role + "'";
    }
    const json& content = message.value("content", json());
    if (!content.is_array()) continue;
    for (const json& block : content) {
      const std::string type = block.is_object() ? block.value("type", "") : "";
      if (type == "image") {
        const json& source = block.value("source", json());
        const std::string kind = source.is_object() ? source.value("type", "") : "";
        const bool ok = (kind == "base64" && source.value("media_type", "").starts_with("image/") &&
                         !source.value("data", "").empty()) ||
                        (kind == "url" && source.value("url", "").starts_with("http"));
        if (!ok) return "messages: an image source must be base64 (media_type, data) or a url";
      }
      if (type == "tool_use" && !block.value("input", json()).is_object()) {
        return "messages: tool_use.input must be an object";
      }
    }
  }
  return std::nullopt;
}

unsigned count_anthropic_prompt_tokens(const json& body) {
  unsigned total = body.contains("system") ? count_blocks(body["system"]) : 0;
  for (const json& message : body.value("messages", json::array())) {
    if (message.is_object() && message.contains("content"))
      total += count_blocks(message["content"]);
  }
  return total;
}

MessagePlan plan_anthropic(const json& body, const Generation& g, unsigned cache_read,
                           unsigned cache_write) {
  PlanAsk ask;
  ask.tool_id_prefix = "toolu_sim_";
  if (body.contains("max_tokens") && body["max_tokens"].is_number_unsigned()) {
    ask.max_tokens = body["max_tokens"].get<unsigned>();
  }
  const json& stops = body.value("stop_sequences", json::array());
  for (const json& stop : stops) {
    if (stop.is_string()) ask.stop_sequences.push_back(stop.get<std::string>());
  }
  const json& tools = body.value("tools", json::array());
  const json& choice = body.value("tool_choice", json::object());
  const std::string mode = string_at(choice, "type", "auto");
  if (tools.is_array() && !tools.empty() && mode != "none" &&
      !last_turn_is_tool_result(body["messages"])) {
    std::vector<std::string> offered;
    for (const json& tool : tools) offered.push_back(string_at(tool, "name", ""));
    const bool parallel =
        !(choice.is_object() && choice.value("disable_parallel_tool_use", json()) == true);
    ask.tools_called = tools_to_call(
        offered, mode == "tool" ? std::optional(string_at(choice, "name", "")) : std::nullopt,
        parallel);
  }
  return plan_message(ask, g, cache_read, cache_write);
}

std::string anthropic_message(const Generation& g, const MessagePlan& plan) {
  json content = json::array();
  if (plan.words > 0) content.push_back({{"type", "text"}, {"text", output_text(plan.words)}});
  for (const auto& call : plan.tool_calls) {
    content.push_back(
        {{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", call.input}});
  }
  json usage = usage_start(g, plan);
  usage["output_tokens"] = plan.output_tokens();
  return json{{"id", message_id(g)},
              {"type", "message"},
              {"role", "assistant"},
              {"model", g.model},
              {"content", std::move(content)},
              {"stop_reason", plan.stop_reason},
              {"stop_sequence", plan.stop_sequence.empty() ? json() : json(plan.stop_sequence)},
              {"usage", std::move(usage)}}
      .dump();
}

AnthropicEvents anthropic_head_events(const Generation& g, const MessagePlan& plan) {
  const json message = {{"id", message_id(g)},      {"type", "message"},
                        {"role", "assistant"},      {"model", g.model},
                        {"content", json::array()}, {"stop_reason", nullptr},
                        {"stop_sequence", nullptr}, {"usage", usage_start(g, plan)}};
  return {{{"type", "message_start"}, {"message", message}},
          {{"type", "content_block_start"},
           {"index", 0},
           {"content_block", {{"type", "text"}, {"text", ""}}}},
          {{"type", "ping"}}};
}

json anthropic_delta_event(unsigned i) {
  return {{"type", "content_block_delta"},
          {"index", 0},
          {"delta", {{"type", "text_delta"}, {"text", std::string(output_word(i))}}}};
}

AnthropicEvents anthropic_tail_events(const Generation&, const MessagePlan& plan) {
  AnthropicEvents out = {{{"type", "content_block_stop"}, {"index", 0}}};
  int index = 1;
  for (const auto& call : plan.tool_calls) {
    out.push_back({{"type", "content_block_start"},
                   {"index", index},
                   {"content_block",
                    {{"type", "tool_use"},
                     {"id", call.id},
                     {"name", call.name},
                     {"input", json::object()}}}});
    for (const std::string& piece : input_pieces(call.input)) {
      out.push_back({{"type", "content_block_delta"},
                     {"index", index},
                     {"delta", {{"type", "input_json_delta"}, {"partial_json", piece}}}});
    }
    out.push_back({{"type", "content_block_stop"}, {"index", index}});
    ++index;
  }
  out.push_back(
      {{"type", "message_delta"},
       {"delta",
        {{"stop_reason", plan.stop_reason},
         {"stop_sequence", plan.stop_sequence.empty() ? json() : json(plan.stop_sequence)}}},
       {"usage", {{"output_tokens", plan.output_tokens()}}}});
  out.push_back({{"type", "message_stop"}});
  return out;
}

std::string anthropic_sse(const AnthropicEvents& events) {
  std::string out;
  for (const json& event : events) out += sse(event);
  return out;
}

std::string anthropic_error_event(std::string_view type, std::string_view message) {
  return sse({{"type", "error"}, {"error", {{"type", type}, {"message", message}}}});
}

std::string anthropic_error_body(unsigned status, std::string_view message,
                                 std::string_view error_code, std::uint64_t serial) {
  // The gateway's own Anthropic error shape (type by status), with what Anthropic adds.
  const api::ApiError error{status, "", "", std::string(message), ""};
  json body = json::parse(error.to_anthropic_json());
  if (!error_code.empty()) body["error"]["details"] = {{"error_code", error_code}};
  body["request_id"] = "req_sim_" + std::to_string(serial);
  return body.dump();
}

}  // namespace fulcrum::sim
