#include "fulcrum/api/request.hpp"

namespace fulcrum::api {

std::string_view upstream_path(Operation op) {
  switch (op) {
    case Operation::chat_completions:
      return "/chat/completions";
    case Operation::completions:
      return "/completions";
    case Operation::embeddings:
      return "/embeddings";
  }
  return "/chat/completions";
}

core::Expected<ParsedRequest, ApiError> parse_request(Operation op, std::string_view body) {
  ParsedRequest request;
  request.operation = op;
  request.body = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (request.body.is_discarded()) {
    return core::Unexpected{ApiError::invalid_request(
        "We could not parse the JSON body of your request. The body must be valid JSON.")};
  }
  if (!request.body.is_object()) {
    return core::Unexpected{ApiError::invalid_request("The request body must be a JSON object.")};
  }
  const auto model = request.body.find("model");
  if (model == request.body.end()) {
    return core::Unexpected{
        ApiError::invalid_request("You must provide a model parameter.", "model")};
  }
  if (!model->is_string() || model->get_ref<const std::string&>().empty()) {
    return core::Unexpected{
        ApiError::invalid_request("The model parameter must be a non-empty string.", "model")};
  }
  request.model = model->get<std::string>();

  const auto stream = request.body.find("stream");
  if (stream != request.body.end() && !stream->is_null()) {
    if (!stream->is_boolean()) {
      return core::Unexpected{ApiError::invalid_request("stream must be a boolean.", "stream")};
    }
    if (op == Operation::embeddings && stream->get<bool>()) {
      return core::Unexpected{
          ApiError::invalid_request("Embeddings cannot be streamed.", "stream")};
    }
    request.stream = stream->get<bool>();
  }
  const auto options = request.body.find("stream_options");
  if (options != request.body.end() && options->is_object()) {
    const auto include = options->find("include_usage");
    request.client_wants_usage =
        include != options->end() && include->is_boolean() && include->get<bool>();
  }
  return request;
}

std::string upstream_body(ParsedRequest& request, std::string_view upstream_model) {
  // Edits the parsed body in place (no deep copy of a possibly large prompt); each attempt
  // overwrites the same two fields, and request.model keeps the client's alias.
  request.body["model"] = upstream_model;
  if (request.stream) request.body["stream_options"]["include_usage"] = true;
  return request.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace fulcrum::api
