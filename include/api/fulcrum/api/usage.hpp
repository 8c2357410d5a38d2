#pragma once
// Token usage as an upstream reports it, in OpenAI's `usage` object.
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>

#include "fulcrum/core/usage.hpp"

namespace fulcrum::api {

using core::Usage;  // the record lives in core: metering and the router read it too

// Reads {"prompt_tokens", "completion_tokens", "prompt_tokens_details": {"cached_tokens"},
// "completion_tokens_details": {"reasoning_tokens"}}, or the Responses API's {"input_tokens",
// "output_tokens", "input_tokens_details": {"cached_tokens", "cache_write_tokens" (Azure)},
// "output_tokens_details": {"reasoning_tokens"}}.
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
