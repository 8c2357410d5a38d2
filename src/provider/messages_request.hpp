#pragma once
// OpenAI chat completions → the Messages shape that Anthropic's API speaks and Bedrock's
// Converse API mirrors: system prompt hoisted, turns merged to alternate, tool calls and results
// as blocks, images as sources, stop and max_tokens. What has no equivalent is a 400 naming the
// field; what the provider would only ignore is dropped and named in a warning.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fulcrum/api/error.hpp"
#include "fulcrum/core/expected.hpp"

namespace fulcrum::provider {

// How one provider takes the Messages shape.
struct MessagesDialect {
  std::string_view provider;  // "anthropic", named in refusals and warnings
  // Whether temperature and top_p are taken (temperature clamped to Anthropic's 0 to 1). When
  // not, they are refused (reject_unsupported) or dropped with a warning.
  bool takes_sampling = true;
  bool reject_unsupported = false;
  std::string_view version;            // who refuses sampling: "Anthropic API version 2026-10-21"
  unsigned default_max_tokens = 4096;  // when the request sets none; 0: left out
};

struct MessagesRequest {
  // Anthropic's Messages body without model and stream: system (a string), messages (content
  // block arrays), max_tokens, stop_sequences, tools, tool_choice, metadata, temperature, top_p.
  nlohmann::json body;
  std::vector<std::string> dropped;  // what was left out, for the warning
};

// The 400 for something a provider cannot do: code unsupported_parameter, `param` naming it.
api::ApiError unsupported_parameter(std::string message, std::string param);

// `in` is the client's chat completions body, already checked to be an object.
core::Expected<MessagesRequest, api::ApiError> to_messages(const nlohmann::json& in,
                                                           const MessagesDialect& dialect);

// "provider anthropic ignored: temperature, seed" ("" when nothing was dropped).
std::string dropped_warning(std::string_view provider, const std::vector<std::string>& dropped);

}  // namespace fulcrum::provider
