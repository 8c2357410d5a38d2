#pragma once
// A usage object read without building a JSON document: the plain shape OpenAI-compatible
// servers send, {"prompt_tokens": 11, "completion_tokens": 16, "prompt_tokens_details":
// {"cached_tokens": 0}, ...}. Every response is metered, and a DOM for a dozen fields cost
// 5% of the gateway's CPU.
#include <optional>
#include <string_view>

#include "fulcrum/api/usage.hpp"

namespace fulcrum::api {

// The usage in `object_text` (one JSON object, nothing around it) when the text is plain:
// valid JSON, ASCII strings without escapes, integer counts, no duplicate counted keys,
// nesting at most a few levels. nullopt otherwise, for the caller to parse it in full: when
// this returns a usage, usage_from on the parsed object returns the same (a fuzz target
// checks it).
std::optional<Usage> read_plain_usage(std::string_view object_text);
// The same for the object at the start of `text`, whatever follows it: a response's usage read
// where it lies, without first finding where the object ends. With `end`, sets it to the
// length of the object read.
std::optional<Usage> read_plain_usage_prefix(std::string_view text, std::size_t* end = nullptr);

}  // namespace fulcrum::api
