#pragma once
// Anthropic's Messages API as fulcrum-sim answers it (`wire: anthropic`): the request checked
// as Anthropic checks it, the message or its stream of typed events (message_start, content
// blocks, message_delta with the cumulative output count, message_stop), tool use, stop
// sequences, max_tokens, prompt-cache usage, and errors in Anthropic's shape.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fulcrum/api/error.hpp"
#include "message_plan.hpp"
#include "sim_responses.hpp"

namespace fulcrum::sim {

// Why Anthropic would refuse the body with a 400 under `version`, or nullopt.
std::optional<std::string> anthropic_refusal(const nlohmann::json& body, std::string_view version);
// The same checks but for `model`, which Bedrock's InvokeModel takes from the path.
std::optional<std::string> anthropic_body_refusal(const nlohmann::json& body,
                                                  std::string_view version);

// Words in the system prompt and every message's text, tool results included.
unsigned count_anthropic_prompt_tokens(const nlohmann::json& body);

// What the simulated model does with the request: `completion_tokens` words unless max_tokens
// or a stop sequence cuts them; tool calls when tools are offered and the last turn is not a
// tool result.
MessagePlan plan_anthropic(const nlohmann::json& body, const Generation& g, unsigned cache_read,
                           unsigned cache_write);

std::string anthropic_message(const Generation& g, const MessagePlan& plan);

// A stream's events, each the JSON of one SSE `data:` line; its "type" is the event's name.
// Bedrock's InvokeModelWithResponseStream frames the same events.
using AnthropicEvents = std::vector<nlohmann::json>;
// message_start (with the input usage), the text block's start, a ping.
AnthropicEvents anthropic_head_events(const Generation& g, const MessagePlan& plan);
nlohmann::json anthropic_delta_event(unsigned i);
// The text block's stop, each tool_use block (input in two partial_json pieces),
// message_delta and message_stop.
AnthropicEvents anthropic_tail_events(const Generation& g, const MessagePlan& plan);
// The events as Anthropic sends them: "event: <type>\ndata: <json>\n\n" each.
std::string anthropic_sse(const AnthropicEvents& events);
// The error event Anthropic sends after a 200 when generation fails midway.
std::string anthropic_error_event(std::string_view type, std::string_view message);

// {"type":"error","error":{"type","message"[,"details":{"error_code"}]},"request_id"}, the
// type by status as Anthropic assigns it.
std::string anthropic_error_body(unsigned status, std::string_view message,
                                 std::string_view error_code, std::uint64_t serial);

}  // namespace fulcrum::sim
