#pragma once
// The few fields of an OpenAI request that routing needs, and the body sent upstream.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fulcrum/api/error.hpp"
#include "fulcrum/core/expected.hpp"

namespace fulcrum::api {

enum class Operation { chat_completions, completions, embeddings };

// The path below the endpoint's base URL, e.g. "/chat/completions".
std::string_view upstream_path(Operation op);

struct ParsedRequest {
  Operation operation = Operation::chat_completions;
  nlohmann::json body;
  std::string model;
  bool stream = false;
  bool client_wants_usage = false;  // stream_options.include_usage as the client sent it
};

// Validates the body as JSON with a string `model`; invalid input becomes a 400.
core::Expected<ParsedRequest, ApiError> parse_request(Operation op, std::string_view body);

// The body for one upstream: `model` rewritten, and for streams usage requested, so the
// gateway can meter what it relays. Everything else goes through unchanged.
std::string upstream_body(ParsedRequest& request, std::string_view upstream_model);

}  // namespace fulcrum::api
