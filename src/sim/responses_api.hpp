#pragma once
// OpenAI's Responses API as fulcrum-sim answers it: the response object, its stream of typed
// events (each "event: <type>" with a "data:" line, numbered, ending with response.completed
// and no [DONE]) and its input items, in the shapes the official SDKs parse.
#include <nlohmann/json.hpp>
#include <string>

#include "sim_responses.hpp"

namespace fulcrum::sim {

// "resp_<endpoint>_<serial>": unique per endpoint, so a test sees which endpoint made it.
std::string response_id(const Generation& g);

// The finished response object (status "completed", the whole text, usage).
nlohmann::json completed_response(const Generation& g);
// response.created, response.in_progress, and the empty message and text part.
std::string responses_head_events(const Generation& g);
// One response.output_text.delta carrying word i.
std::string responses_delta_event(const Generation& g, unsigned i);
// The done events for the text, part and message, then response.completed with usage.
std::string responses_tail_events(const Generation& g);
// response.failed after `made` of the words: status "failed", an error, usage for those words.
std::string responses_failed_event(const Generation& g, unsigned made);

// The request's input as stored items: a string becomes one user message.
nlohmann::json input_items(const nlohmann::json& request, const Generation& g);

}  // namespace fulcrum::sim
