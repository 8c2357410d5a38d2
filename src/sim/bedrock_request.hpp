#pragma once
// A Converse request (`wire: bedrock`) as Bedrock reads it: checked as Bedrock checks it (the
// model is in the path, never the body), its prompt counted, and what the simulated model
// does with it. InvokeModel's body for Anthropic models is Anthropic's Messages body, read by
// anthropic_wire.hpp once invoke_refusal passed it.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "message_plan.hpp"
#include "sim_responses.hpp"

namespace fulcrum::sim {

// Why Bedrock would refuse the Converse body with a ValidationException, or nullopt.
std::optional<std::string> converse_refusal(const nlohmann::json& body);

// Why Bedrock would refuse an InvokeModel body for an Anthropic model: no `model` or
// `stream` key, anthropic_version "bedrock-2023-05-31", and otherwise what Anthropic checks
// under its version 2023-06-01.
std::optional<std::string> invoke_refusal(const nlohmann::json& body);

// Words in the system blocks, every text block and every tool result's text and JSON.
unsigned count_converse_prompt_tokens(const nlohmann::json& body);

// The plan of plan_message with Converse's fields: inferenceConfig.maxTokens and
// stopSequences, toolConfig.tools and toolChoice; no tool calls after a tool result.
MessagePlan plan_converse(const nlohmann::json& body, const Generation& g, unsigned cache_read,
                          unsigned cache_write);

}  // namespace fulcrum::sim
