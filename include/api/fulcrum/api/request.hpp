#pragma once
// An OpenAI request as the gateway reads it: the few fields routing and metering need, found in
// one pass over the client's bytes without building a document, and the body sent upstream,
// spliced from those bytes. Only `model` changes (and, for streams,
// stream_options.include_usage is set): key order, whitespace and the spelling of every other
// value reach the upstream exactly as the client sent them, so a JSON schema whose properties
// are {reasoning, answer} is still generated reasoning first.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fulcrum/api/error.hpp"
#include "fulcrum/core/expected.hpp"
#include "fulcrum/core/prompt_features.hpp"

namespace fulcrum::api {

// `messages` is Anthropic's Messages API (POST /v1/messages), relayed as it is to providers
// that speak it.
enum class Operation { chat_completions, completions, embeddings, responses, messages };

// The path below the endpoint's base URL, e.g. "/chat/completions".
std::string_view upstream_path(Operation op);

// [begin, end) in ParsedRequest::body.
struct BodySpan {
  std::size_t begin = 0;
  std::size_t end = 0;
};

struct ParsedRequest {
  Operation operation = Operation::chat_completions;
  std::string body;  // the client's bytes
  std::string model;
  bool stream = false;
  bool client_wants_usage = false;   // stream_options.include_usage as the client sent it
  std::string previous_response_id;  // Responses API: the stored response this one continues

  // Where the upstream body's edits go.
  BodySpan model_value;                    // the model's string token, quotes included
  std::optional<BodySpan> stream_options;  // its value: an object (with its braces) or null
  bool stream_options_empty = true;        // an object without members
  std::optional<BodySpan> include_usage;   // stream_options.include_usage's value
  std::size_t object_close = 0;            // the top-level object's closing brace
  std::optional<BodySpan> service_tier;    // its value as the client sent it, any JSON type

  // Routing signals read on the way. Keyword hits need the route's keyword list and are
  // counted by prompt_features(), from the prompt's text strings kept here.
  core::PromptFeatures features;
  std::vector<BodySpan> texts;  // raw, escapes as sent
  bool texts_escaped = false;
};

// Reads and validates the body (JSON, a top-level object, every field Fulcrum reads in the
// type OpenAI documents, no duplicate of those fields, no field naming an upstream or a key);
// anything else is a 400 naming the field. Takes the bytes: the request keeps them.
core::Expected<ParsedRequest, ApiError> parse_request(Operation op, std::string body);

// The body for one upstream: the client's bytes with `model` replaced and, for Chat and
// Completions streams, usage requested, so the gateway can meter what it relays (the Responses
// API always reports usage in its last event). A `service_tier` ("flex") replaces the client's
// own, or is added; "" leaves the client's as it sent it.
std::string upstream_body(const ParsedRequest& request, std::string_view upstream_model,
                          std::string_view service_tier = {});

}  // namespace fulcrum::api
