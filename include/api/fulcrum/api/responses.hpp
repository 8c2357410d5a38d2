#pragma once
// The Responses API's answers as the gateway reads them: the response's id (later calls that
// name it must reach the endpoint that stored it) and its usage, from a whole body or from the
// typed SSE events of a stream. Usage is only in the final event (response.completed,
// response.incomplete or response.failed), under "response"; the id is in every lifecycle
// event and first in response.created. An `error` event also ends a stream.
#include <optional>
#include <string>
#include <string_view>

#include "fulcrum/api/error.hpp"
#include "fulcrum/api/usage.hpp"

namespace fulcrum::api {

struct ResponsesReading {
  std::string id;
  bool stored = true;  // false when the response says "store": false: nothing to pin
  std::optional<Usage> usage;
  bool terminal = false;  // response.completed, .incomplete, .failed or error: the last word
  bool failed = false;    // response.failed or error: the upstream could not answer
};

// A whole (non-streamed) Responses API body.
ResponsesReading read_responses_body(std::string_view json_text);

// One SSE event's data. Cheap for the many events that are neither lifecycle nor terminal: those
// are recognised by their type without a parse.
ResponsesReading read_responses_event(std::string_view data);

// The event that ends a Responses stream cut short, in the shape every SDK raises on: the
// documented flat fields and, for clients that read it, the same error nested.
std::string responses_error_event(const ApiError& error, unsigned sequence_number);

}  // namespace fulcrum::api
