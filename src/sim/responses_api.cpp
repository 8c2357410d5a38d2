#include "responses_api.hpp"

namespace fulcrum::sim {
namespace {

using nlohmann::json;

constexpr unsigned kHeadEvents = 4;  // created, in_progress, item added, part added

std::string message_id(const Generation& g) { return "msg_" + response_id(g).substr(5); }

std::string full_text(const Generation& g) {
  std::string text;
  for (unsigned i = 0; i < g.completion_tokens; ++i) text += output_word(i);
  return text;
}

json text_part(std::string text) {
  return {{"type", "output_text"},
          {"annotations", json::array()},
          {"logprobs", json::array()},
          {"text", std::move(text)}};
}

json message(const Generation& g, bool done) {
  return {{"id", message_id(g)},
          {"type", "message"},
          {"status", done ? "completed" : "in_progress"},
          {"content", done ? json::array({text_part(full_text(g))}) : json::array()},
          {"role", "assistant"}};
}

// The response object's fields; what the request set (instructions, previous_response_id,
// store, max_output_tokens, metadata) is echoed back, as OpenAI does.
json response_object(const Generation& g, bool done) {
  const json& echo = g.echo;
  json out = {{"id", response_id(g)},
              {"object", "response"},
              {"created_at", 1700000000},
              {"status", done ? "completed" : "in_progress"},
              {"background", false},
              {"completed_at", done ? json(1700000001) : json(nullptr)},
              {"error", nullptr},
              {"incomplete_details", nullptr},
              {"instructions", echo.value("instructions", json(nullptr))},
              {"max_output_tokens", echo.value("max_output_tokens", json(nullptr))},
              {"model", g.model},
              {"output", done ? json::array({message(g, true)}) : json::array()},
              {"parallel_tool_calls", true},
              {"previous_response_id", echo.value("previous_response_id", json(nullptr))},
              {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
              {"service_tier", "default"},
              {"store", echo.value("store", true)},
              {"temperature", 1},
              {"text", {{"format", {{"type", "text"}}}, {"verbosity", "medium"}}},
              {"tool_choice", "auto"},
              {"tools", json::array()},
              {"top_p", 1},
              {"truncation", "disabled"},
              {"usage", nullptr},
              {"user", nullptr},
              {"metadata", echo.value("metadata", json::object())}};
  if (done) {
    out["usage"] = {{"input_tokens", g.prompt_tokens},
                    {"input_tokens_details", {{"cached_tokens", g.cached_tokens}}},
                    {"output_tokens", g.completion_tokens},
                    {"output_tokens_details", {{"reasoning_tokens", 0}}},
                    {"total_tokens", g.prompt_tokens + g.completion_tokens}};
  }
  return out;
}

std::string event(std::string_view type, unsigned sequence, const json& payload) {
  json data = {{"type", type}, {"sequence_number", sequence}};
  data.update(payload);
  return "event: " + std::string(type) + "\ndata: " + data.dump() + "\n\n";
}

json text_position(const Generation& g) {
  return {{"item_id", message_id(g)}, {"output_index", 0}, {"content_index", 0}};
}

}  // namespace

std::string response_id(const Generation& g) {
  return "resp_" + g.endpoint + "_" + std::to_string(g.serial);
}

json completed_response(const Generation& g) { return response_object(g, true); }

std::string responses_head_events(const Generation& g) {
  std::string out = event("response.created", 0, {{"response", response_object(g, false)}});
  out += event("response.in_progress", 1, {{"response", response_object(g, false)}});
  out += event("response.output_item.added", 2, {{"output_index", 0}, {"item", message(g, false)}});
  json part = text_position(g);
  part["part"] = text_part("");
  out += event("response.content_part.added", 3, part);
  return out;
}

std::string responses_delta_event(const Generation& g, unsigned i) {
  json delta = text_position(g);
  delta["delta"] = std::string(output_word(i));
  delta["logprobs"] = json::array();
  return event("response.output_text.delta", kHeadEvents + i, delta);
}

std::string responses_tail_events(const Generation& g) {
  unsigned sequence = kHeadEvents + g.completion_tokens;
  json text_done = text_position(g);
  text_done["text"] = full_text(g);
  text_done["logprobs"] = json::array();
  std::string out = event("response.output_text.done", sequence++, text_done);
  json part_done = text_position(g);
  part_done["part"] = text_part(full_text(g));
  out += event("response.content_part.done", sequence++, part_done);
  out += event("response.output_item.done", sequence++,
               {{"output_index", 0}, {"item", message(g, true)}});
  out += event("response.completed", sequence, {{"response", completed_response(g)}});
  return out;
}

std::string responses_failed_event(const Generation& g, unsigned made) {
  Generation partial = g;
  partial.completion_tokens = made;
  json response = response_object(partial, true);
  response["status"] = "failed";
  response["completed_at"] = nullptr;
  response["error"] = {{"code", "server_error"},
                       {"message", "The model failed midway (injected)."}};
  return event("response.failed", kHeadEvents + made, {{"response", std::move(response)}});
}

json input_items(const json& request, const Generation& g) {
  json items = json::array();
  const auto input = request.find("input");
  if (input == request.end()) return items;
  if (input->is_string()) {
    items.push_back({{"type", "message"},
                     {"role", "user"},
                     {"content", json::array({{{"type", "input_text"}, {"text", *input}}})}});
  } else if (input->is_array()) {
    for (const json& item : *input) {
      json stored = item;
      if (!stored.contains("type")) stored["type"] = "message";
      items.push_back(std::move(stored));
    }
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    items[i]["id"] =
        "msg_in_" + g.endpoint + "_" + std::to_string(g.serial) + "_" + std::to_string(i);
  }
  return items;
}

}  // namespace fulcrum::sim
