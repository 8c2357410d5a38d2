#pragma once
// Token usage as an upstream reports it, in OpenAI's `usage` object.
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>

namespace fulcrum::api {

struct Usage {
  std::int64_t input = 0;         // prompt_tokens, cached ones included
  std::int64_t cached_input = 0;  // prompt_tokens_details.cached_tokens
  std::int64_t output = 0;        // completion_tokens (0 for embeddings)

  std::int64_t uncached_input() const { return input > cached_input ? input - cached_input : 0; }
  friend bool operator==(const Usage&, const Usage&) = default;
};

// Reads {"prompt_tokens", "completion_tokens", "prompt_tokens_details": {"cached_tokens"}}.
// nullopt when absent, null, or malformed (negative or non-integer counts).
std::optional<Usage> usage_from(const nlohmann::json& usage);

// The `usage` of a whole JSON response body or of one SSE chunk's JSON payload.
std::optional<Usage> usage_in_document(std::string_view json_text);

// Characters of generated text in a response body or SSE events: the lengths of the string
// values of "content" and "text" keys (escapes counted as written). A scan, not a parse: for
// estimating output tokens when an upstream reports no usage.
std::size_t generated_chars(std::string_view text);

// Usage estimated from what the gateway saw: ~4 characters per output token.
Usage estimate_usage(std::uint64_t prompt_tokens, std::size_t generated_characters);

// Cheap pre-check on an SSE payload before parsing it: does it carry a non-null usage object?
bool may_carry_usage(std::string_view json_text);

}  // namespace fulcrum::api
