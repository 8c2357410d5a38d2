#pragma once
// The bodies fulcrum-sim answers with: deterministic text and exact usage, so tests can
// assert exact token and dollar counts. A "token" is one whitespace-separated word.
#include <nlohmann/json.hpp>
#include <string>

#include "fulcrum/api/request.hpp"

namespace fulcrum::sim {

struct Generation {
  api::Operation operation = api::Operation::chat_completions;
  std::string model;
  std::uint64_t serial = 0;  // makes ids unique
  std::string endpoint;      // the simulated endpoint's name (in Responses API ids)
  unsigned prompt_tokens = 0;
  unsigned cached_tokens = 0;
  unsigned completion_tokens = 0;
  bool include_usage = false;  // stream_options.include_usage
  // Chat and completions: the tier that served it, as OpenAI reports it ("default" unless the
  // request asked for another: "flex"), in the body and in every chunk.
  std::string service_tier = "default";
  // Responses API: the request fields its response object repeats (instructions, store, ...).
  nlohmann::json echo = nlohmann::json::object();
};

// Words in the request's prompt: message contents (strings or text parts) for chat, the
// prompt (string or list) for completions, the input (string or list) for embeddings, the
// instructions and input (a string, or items' contents and outputs) for responses.
unsigned count_prompt_tokens(api::Operation op, const nlohmann::json& body);

// Whitespace-separated words in a text: the sim's tokens.
unsigned count_words(std::string_view text);

// value[key] when value is an object holding a string there, else `fallback`: untrusted
// bodies are read without nlohmann's type exceptions.
std::string string_at(const nlohmann::json& value, std::string_view key, std::string_view fallback);

// The i-th word of every generated text (with its trailing space).
std::string_view output_word(unsigned i);

// The whole answer of a chat, completions or responses request.
std::string whole_completion(const Generation& g);
// One SSE event ("data: ...\n\n") carrying content word i.
std::string stream_content_event(const Generation& g, unsigned i);
// The events after the last word: finish_reason, the usage chunk if asked, [DONE].
std::string stream_tail_events(const Generation& g);
// For chat, the opening event with the assistant role.
std::string stream_head_event(const Generation& g);

std::string embeddings_response(const Generation& g, std::size_t inputs, unsigned dimensions,
                                bool base64);

}  // namespace fulcrum::sim
