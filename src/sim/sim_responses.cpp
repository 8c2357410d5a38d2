#include "sim_responses.hpp"

#include <array>

#include "fulcrum/core/base64.hpp"
#include "responses_api.hpp"

namespace fulcrum::sim {
namespace {

constexpr std::array<std::string_view, 16> kWords = {
    "Fulcrum ", "routes ", "tokens ",  "to ",     "the ",   "cheapest ", "endpoint ", "that ",
    "meets ",   "its ",    "latency ", "target ", "while ", "paid ",     "capacity ", "waits "};

unsigned count_text(const nlohmann::json& value) {
  if (value.is_string()) return count_words(value.get_ref<const std::string&>());
  unsigned total = 0;
  if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_string())
        total += count_words(item.get_ref<const std::string&>());
      else if (item.is_number_integer())
        total += 1;  // a pre-tokenized prompt
      else if (item.is_array())
        total += static_cast<unsigned>(item.size());
      else if (item.is_object() && item.contains("text") && item["text"].is_string()) {
        total += count_words(item["text"].get_ref<const std::string&>());
      }
    }
  }
  return total;
}

std::string id_of(const Generation& g) {
  const char* prefix = g.operation == api::Operation::completions ? "cmpl-sim-" : "chatcmpl-sim-";
  return prefix + std::to_string(g.serial);
}

nlohmann::json usage_of(const Generation& g) {
  return {{"prompt_tokens", g.prompt_tokens},
          {"completion_tokens", g.completion_tokens},
          {"total_tokens", g.prompt_tokens + g.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", g.cached_tokens}}}};
}

std::string event(const nlohmann::json& payload) { return "data: " + payload.dump() + "\n\n"; }

nlohmann::json chunk_base(const Generation& g) {
  const bool chat = g.operation == api::Operation::chat_completions;
  nlohmann::json chunk = {{"id", id_of(g)},
                          {"object", chat ? "chat.completion.chunk" : "text_completion"},
                          {"created", 1700000000},
                          {"model", g.model},
                          {"service_tier", g.service_tier}};
  if (g.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

}  // namespace

unsigned count_words(std::string_view text) {
  unsigned words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

std::string string_at(const nlohmann::json& value, std::string_view key,
                      std::string_view fallback) {
  if (!value.is_object()) return std::string(fallback);
  const auto found = value.find(key);
  return found != value.end() && found->is_string() ? found->get<std::string>()
                                                    : std::string(fallback);
}

unsigned count_prompt_tokens(api::Operation op, const nlohmann::json& body) {
  switch (op) {
    case api::Operation::chat_completions:
    case api::Operation::messages: {
      unsigned total = 0;
      const auto messages = body.find("messages");
      if (messages == body.end() || !messages->is_array()) return 0;
      for (const auto& message : *messages) {
        if (message.is_object() && message.contains("content"))
          total += count_text(message["content"]);
      }
      return total;
    }
    case api::Operation::completions:
      return body.contains("prompt") ? count_text(body["prompt"]) : 0;
    case api::Operation::embeddings:
      return body.contains("input") ? count_text(body["input"]) : 0;
    case api::Operation::responses: {
      unsigned total = body.contains("instructions") ? count_text(body["instructions"]) : 0;
      const auto input = body.find("input");
      if (input == body.end() || !input->is_array()) {
        return total + (input != body.end() ? count_text(*input) : 0);
      }
      for (const auto& item : *input) {
        if (!item.is_object()) continue;
        if (item.contains("content")) total += count_text(item["content"]);
        if (item.contains("output")) total += count_text(item["output"]);  // a tool's result
      }
      return total;
    }
  }
  return 0;
}

std::string_view output_word(unsigned i) { return kWords[i % kWords.size()]; }

std::string whole_completion(const Generation& g) {
  if (g.operation == api::Operation::responses) return completed_response(g).dump();
  std::string text;
  for (unsigned i = 0; i < g.completion_tokens; ++i) text += output_word(i);
  const bool chat = g.operation == api::Operation::chat_completions;
  nlohmann::json choice = {{"index", 0}, {"finish_reason", "stop"}, {"logprobs", nullptr}};
  if (chat)
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  else
    choice["text"] = text;
  return nlohmann::json{{"id", id_of(g)},
                        {"object", chat ? "chat.completion" : "text_completion"},
                        {"created", 1700000000},
                        {"model", g.model},
                        {"service_tier", g.service_tier},
                        {"choices", nlohmann::json::array({choice})},
                        {"usage", usage_of(g)}}
      .dump();
}

std::string stream_head_event(const Generation& g) {
  if (g.operation == api::Operation::responses) return responses_head_events(g);
  if (g.operation != api::Operation::chat_completions) return {};
  nlohmann::json chunk = chunk_base(g);
  chunk["choices"] = nlohmann::json::array({{{"index", 0},
                                             {"delta", {{"role", "assistant"}, {"content", ""}}},
                                             {"finish_reason", nullptr}}});
  return event(chunk);
}

std::string stream_content_event(const Generation& g, unsigned i) {
  if (g.operation == api::Operation::responses) return responses_delta_event(g, i);
  nlohmann::json chunk = chunk_base(g);
  const std::string word(output_word(i));
  if (g.operation == api::Operation::chat_completions) {
    chunk["choices"] = nlohmann::json::array(
        {{{"index", 0}, {"delta", {{"content", word}}}, {"finish_reason", nullptr}}});
  } else {
    chunk["choices"] =
        nlohmann::json::array({{{"index", 0}, {"text", word}, {"finish_reason", nullptr}}});
  }
  return event(chunk);
}

std::string stream_tail_events(const Generation& g) {
  if (g.operation == api::Operation::responses) return responses_tail_events(g);
  nlohmann::json finish = chunk_base(g);
  if (g.operation == api::Operation::chat_completions) {
    finish["choices"] = nlohmann::json::array(
        {{{"index", 0}, {"delta", nlohmann::json::object()}, {"finish_reason", "stop"}}});
  } else {
    finish["choices"] =
        nlohmann::json::array({{{"index", 0}, {"text", ""}, {"finish_reason", "stop"}}});
  }
  std::string out = event(finish);
  if (g.include_usage) {
    nlohmann::json usage = chunk_base(g);
    usage["choices"] = nlohmann::json::array();
    usage["usage"] = usage_of(g);
    out += event(usage);
  }
  out += "data: [DONE]\n\n";
  return out;
}

namespace {

// OpenAI's encoding_format "base64": the vector as little-endian float32, base64-encoded.
std::string base64_floats(const std::vector<float>& values) {
  return core::base64_encode(std::string_view(reinterpret_cast<const char*>(values.data()),
                                              values.size() * sizeof(float)));
}

}  // namespace

std::string embeddings_response(const Generation& g, std::size_t inputs, unsigned dimensions,
                                bool base64) {
  nlohmann::json data = nlohmann::json::array();
  for (std::size_t i = 0; i < inputs; ++i) {
    std::vector<float> vector;
    for (unsigned d = 0; d < dimensions; ++d) {
      vector.push_back(static_cast<float>((i * 31 + d * 7) % 100) / 100.0f);
    }
    nlohmann::json embedding =
        base64 ? nlohmann::json(base64_floats(vector)) : nlohmann::json(vector);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  return nlohmann::json{
      {"object", "list"},
      {"data", std::move(data)},
      {"model", g.model},
      {"usage", {{"prompt_tokens", g.prompt_tokens}, {"total_tokens", g.prompt_tokens}}}}
      .dump();
}

}  // namespace fulcrum::sim
