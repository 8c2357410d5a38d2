#pragma once
// AWS Bedrock Runtime's Converse API as fulcrum-sim answers it (`wire: bedrock`): the whole
// answer, the ConverseStream events as application/vnd.amazon.eventstream frames with real
// CRCs, and errors in the restJson1 shape ({"message"} plus x-amzn-ErrorType). Also
// InvokeModelWithResponseStream's frames for Anthropic models, whose whole answer is
// anthropic_message. The request's side is in bedrock_request.hpp.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "anthropic_wire.hpp"
#include "message_plan.hpp"
#include "sim_responses.hpp"

namespace fulcrum::sim {

// {"output":{"message":...},"stopReason","usage","metrics":{"latencyMs"}}.
std::string converse_answer(const Generation& g, const MessagePlan& plan, unsigned latency_ms);

// ConverseStream, one eventstream frame per event. The head is messageStart; each text word
// is a contentBlockDelta at index 0; the tail closes the text block (skipped when there are
// no words but tool calls), streams each toolUse block (its input in two pieces), then
// messageStop and metadata (usage, metrics), last.
std::string converse_head_events();
std::string converse_delta_event(unsigned i);
std::string converse_tail_events(const Generation& g, const MessagePlan& plan, unsigned latency_ms);
// What Bedrock sends after the 200 when generation fails midway: an exception frame.
std::string converse_exception_event(std::string_view type, std::string_view message);
// A frame with its message CRC wrong, for the gateway to reject.
std::string with_bad_crc(std::string frame);
// A well-framed contentBlockDelta whose payload is not JSON.
std::string converse_malformed_event();

// InvokeModelWithResponseStream: each of Anthropic's events as one frame (:event-type chunk,
// :content-type application/json, :message-type event) whose payload is
// {"bytes": <base64 of the event's JSON>, "p": <padding>}.
std::string invoke_chunk_events(const AnthropicEvents& events);
// Anthropic's tail events as chunks; message_stop also carries what Bedrock adds,
// "amazon-bedrock-invocationMetrics": {inputTokenCount (uncached, as Anthropic counts them),
// outputTokenCount, invocationLatency, firstByteLatency} in milliseconds.
std::string invoke_tail_events(const Generation& g, const MessagePlan& plan, unsigned latency_ms,
                               unsigned first_byte_ms);
// A well-framed chunk whose payload is not JSON.
std::string invoke_malformed_event();

// An error answer: the status, x-amzn-ErrorType and the body's {"message"}.
struct BedrockError {
  unsigned status = 400;
  // Bedrock's own exceptions carry a namespace ("ValidationException:http://internal..."),
  // AWS's front door's do not ("MissingAuthenticationTokenException"); clients take the part
  // before the first ':'.
  std::string type;
  std::string message;
};

// One of Bedrock's own exceptions; with an empty name, the one Bedrock gives `status`
// (ValidationException 400, AccessDeniedException 403, ResourceNotFoundException 404,
// ModelTimeoutException 408, ModelErrorException 424, ThrottlingException 429,
// InternalServerException 500, ServiceUnavailableException 503).
BedrockError bedrock_error(unsigned status, std::string_view name, std::string message);
std::string bedrock_error_body(const BedrockError& error);

}  // namespace fulcrum::sim
