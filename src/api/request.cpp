#include "fulcrum/api/request.hpp"

#include <optional>

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

// The largest token count a request may name: OpenAI's own bound (a signed 32-bit integer).
// Anything larger is refused before it can reach a cost estimate.
constexpr std::uint64_t kMaxTokenCount = 2147483647;

using nlohmann::json;

ApiError wrong_type(std::string_view field, std::string_view expected) {
  return ApiError::invalid_request(
      "Invalid type for '" + std::string(field) + "': expected " + std::string(expected) + ".",
      std::string(field), "invalid_type");
}

// null counts as absent for every optional field, as it does for OpenAI.
const json* field(const json& body, std::string_view name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

// A count such as max_tokens or n: an integer from `min` to kMaxTokenCount.
std::optional<ApiError> check_count(const json& body, std::string_view name, std::uint64_t min) {
  const json* value = field(body, name);
  if (value == nullptr) return std::nullopt;
  if (value->is_number_float() || !value->is_number()) return wrong_type(name, "an integer");
  const bool negative =
      value->is_number_integer() && !value->is_number_unsigned() && value->get<std::int64_t>() < 0;
  const std::uint64_t n = negative ? 0 : value->get<std::uint64_t>();
  if (negative || n < min) {
    return ApiError::invalid_request(
        "Invalid '" + std::string(name) +
            "': integer below minimum value. Expected a value >= " + std::to_string(min) + ".",
        std::string(name), "integer_below_min_value");
  }
  if (n > kMaxTokenCount) {
    return ApiError::invalid_request("Invalid '" + std::string(name) +
                                         "': integer above maximum value. Expected a value <= " +
                                         std::to_string(kMaxTokenCount) + ".",
                                     std::string(name), "integer_above_max_value");
  }
  return std::nullopt;
}

// Text or token input (embeddings' input, completions' prompt): a string or an array.
std::optional<ApiError> check_input(const json& body, std::string_view name, bool required) {
  const json* value = field(body, name);
  if (value == nullptr) {
    if (!required) return std::nullopt;
    return ApiError::invalid_request("You must provide " + std::string(name) + ".",
                                     std::string(name), "missing_required_parameter");
  }
  if (!value->is_string() && !value->is_array()) {
    return wrong_type(name, "a string or an array");
  }
  return std::nullopt;
}

// The fields Fulcrum reads or rewrites must have the types OpenAI documents: a 400 naming
// the field, never an exception further down. Fields Fulcrum does not read are forwarded as
// they are, for the upstream to judge.
std::optional<ApiError> check_fields(Operation op, const json& body) {
  const auto model = body.find("model");
  if (model == body.end()) {
    return ApiError::invalid_request("You must provide a model parameter.", "model");
  }
  if (!model->is_string() || model->get_ref<const std::string&>().empty()) {
    return ApiError::invalid_request("The model parameter must be a non-empty string.", "model");
  }
  if (const json* stream = field(body, "stream")) {
    if (!stream->is_boolean()) return wrong_type("stream", "a boolean");
    if (op == Operation::embeddings && stream->get<bool>()) {
      return ApiError::invalid_request("Embeddings cannot be streamed.", "stream");
    }
  }
  if (const json* options = field(body, "stream_options")) {
    if (!options->is_object()) return wrong_type("stream_options", "an object");
    if (const json* include = field(*options, "include_usage"); include && !include->is_boolean()) {
      return wrong_type("stream_options.include_usage", "a boolean");
    }
  }
  for (const char* count : {"max_tokens", "max_completion_tokens"}) {
    if (auto problem = check_count(body, count, 1)) return problem;
  }
  if (auto problem = check_count(body, "n", 1)) return problem;
  if (const json* user = field(body, "user"); user && !user->is_string()) {
    return wrong_type("user", "a string");
  }
  if (const json* metadata = field(body, "metadata"); metadata && !metadata->is_object()) {
    return wrong_type("metadata", "an object");
  }
  if (const json* tools = field(body, "tools"); tools && !tools->is_array()) {
    return wrong_type("tools", "an array");
  }
  if (const json* format = field(body, "response_format"); format && !format->is_object()) {
    return wrong_type("response_format", "an object");
  }
  switch (op) {
    case Operation::chat_completions: {
      const json* messages = field(body, "messages");
      if (messages == nullptr) {
        return ApiError::invalid_request("You must provide messages.", "messages",
                                         "missing_required_parameter");
      }
      if (!messages->is_array()) return wrong_type("messages", "an array");
      for (std::size_t i = 0; i < messages->size(); ++i) {
        if (!(*messages)[i].is_object()) {
          return wrong_type("messages[" + std::to_string(i) + "]", "an object");
        }
      }
      return std::nullopt;
    }
    case Operation::completions:
      return check_input(body, "prompt", false);
    case Operation::embeddings:
      return check_input(body, "input", true);
  }
  return std::nullopt;
}

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
  if (auto problem = check_fields(op, request.body)) return core::Unexpected{std::move(*problem)};
  // check_fields() has vouched for the types read here.
  request.model = request.body.find("model")->get<std::string>();
  const auto stream = request.body.find("stream");
  request.stream = stream != request.body.end() && stream->is_boolean() && stream->get<bool>();
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
