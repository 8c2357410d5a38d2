#include "fulcrum/api/request.hpp"

namespace fulcrum::api {
namespace {

// Deeper than any real request (tool schemas nest a few dozen levels), shallow enough that
// neither parsing nor destroying the document can exhaust a coroutine's stack.
constexpr std::size_t kMaxJsonDepth = 128;

// Whether brackets nest deeper than `limit`, outside strings: checked before parsing.
bool nests_deeper_than(std::string_view json, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

// Fields some gateways read as where to send the request, or with which key. Upstreams and
// keys come from the config only: a request naming them is refused, not quietly forwarded.
constexpr std::string_view kUpstreamFields[] = {"api_base", "base_url", "api_key"};

}  // namespace

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
  if (nests_deeper_than(body, kMaxJsonDepth)) {
    return core::Unexpected{ApiError::invalid_request("The JSON body nests deeper than " +
                                                      std::to_string(kMaxJsonDepth) + " levels.")};
  }
  request.body = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (request.body.is_discarded()) {
    return core::Unexpected{ApiError::invalid_request(
        "We could not parse the JSON body of your request. The body must be valid JSON.")};
  }
  if (!request.body.is_object()) {
    return core::Unexpected{ApiError::invalid_request("The request body must be a JSON object.")};
  }
  for (const std::string_view field : kUpstreamFields) {
    if (request.body.contains(field)) {
      return core::Unexpected{ApiError::invalid_request(
          std::string(field) + " is not accepted: upstreams and their keys come from Fulcrum's "
                               "configuration.",
          std::string(field))};
    }
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
