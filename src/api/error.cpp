#include "fulcrum/api/error.hpp"

#include <nlohmann/json.hpp>

#include "fulcrum/api/request.hpp"

namespace fulcrum::api {

std::string ApiError::to_json() const {
  nlohmann::json error = {
      {"message", message},
      {"type", type},
      {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
      {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)},
  };
  // Replace, not throw, on invalid UTF-8: a message may quote a client's bytes.
  return nlohmann::json{{"error", std::move(error)}}.dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
}

namespace {

// Anthropic's error types go by status (docs.claude.com/en/api/errors).
std::string_view anthropic_type(unsigned status) {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    case 504:
      return "timeout_error";
    default:
      return "api_error";
  }
}

}  // namespace

std::string ApiError::to_anthropic_json() const {
  nlohmann::json error = {{"type", anthropic_type(status)}, {"message", message}};
  return nlohmann::json{{"type", "error"}, {"error", std::move(error)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ApiError::to_json(Operation op) const {
  return op == Operation::messages ? to_anthropic_json() : to_json();
}

ApiError ApiError::invalid_request(std::string message, std::string param, std::string code) {
  return {400, "invalid_request_error", std::move(code), std::move(message), std::move(param)};
}

ApiError ApiError::model_not_found(std::string_view model) {
  return {404, "invalid_request_error", "model_not_found",
          "The model '" + std::string(model) + "' does not exist or you do not have access to it.",
          "model"};
}

ApiError ApiError::response_not_found(std::string_view id, std::string_view param) {
  return {404, "invalid_request_error",
          param.empty() ? "response_not_found" : "previous_response_not_found",
          "Response with id '" + std::string(id.substr(0, 256)) +
              "' not found: Fulcrum keeps which endpoint stored each response it relayed (the "
              "newest 100000, until it restarts), and has no record of this one.",
          std::string(param)};
}

ApiError ApiError::not_found(std::string_view path) {
  return {404, "invalid_request_error", "unknown_url",
          "Unknown request URL: " + std::string(path) + ".", ""};
}

ApiError ApiError::unknown_endpoint(std::string_view method, std::string_view path) {
  return {404, "invalid_request_error", "unknown_url",
          "Unknown request URL: " + std::string(method) + " " + std::string(path.substr(0, 256)) +
              ". Fulcrum serves POST /v1/chat/completions, /v1/completions, /v1/embeddings and "
              "/v1/responses; GET /v1/models and /v1/models/{model}; GET and DELETE "
              "/v1/responses/{id}, POST /v1/responses/{id}/cancel and GET "
              "/v1/responses/{id}/input_items. Point the client's base URL at "
              "http://HOST:PORT/v1.",
          ""};
}

ApiError ApiError::method_not_allowed(std::string_view method, std::string_view path) {
  return {405, "invalid_request_error", "method_not_allowed",
          "Method " + std::string(method) + " is not allowed on " + std::string(path) + ".", ""};
}

ApiError ApiError::body_too_large(std::size_t limit) {
  return {413, "invalid_request_error", "request_too_large",
          "The request body exceeds the limit of " + std::to_string(limit) + " bytes.", ""};
}

ApiError ApiError::headers_too_large(std::size_t limit) {
  return {431, "invalid_request_error", "headers_too_large",
          "The request headers exceed the limit of " + std::to_string(limit) + " bytes.", ""};
}

ApiError ApiError::too_many_headers(std::size_t limit) {
  return {431, "invalid_request_error", "headers_too_large",
          "The request has more than " + std::to_string(limit) + " header fields.", ""};
}

ApiError ApiError::too_many_connections(std::string_view scope) {
  return {503, "server_error", "too_many_connections",
          "Too many open connections " + std::string(scope) + "; retry shortly.", ""};
}

ApiError ApiError::bad_gateway(std::string message) {
  return {502, "api_error", "upstream_error", std::move(message), ""};
}

ApiError ApiError::gateway_timeout(std::string message) {
  return {504, "api_error", "upstream_timeout", std::move(message), ""};
}

ApiError ApiError::service_unavailable(std::string message) {
  return {503, "api_error", "no_endpoint_available", std::move(message), ""};
}

ApiError ApiError::unauthorized(std::string message) {
  return {401, "invalid_request_error", "invalid_api_key", std::move(message), ""};
}

ApiError ApiError::model_not_allowed(std::string_view model) {
  return {403, "invalid_request_error", "model_not_allowed",
          "Your API key may not use the model '" + std::string(model.substr(0, 256)) + "'.",
          "model"};
}

ApiError ApiError::rate_limited(std::string_view kind, std::string message) {
  return {429, std::string(kind), "rate_limit_exceeded", std::move(message), ""};
}

ApiError ApiError::insufficient_quota(std::string message) {
  return {429, "insufficient_quota", "insufficient_quota", std::move(message), ""};
}

ApiError ApiError::internal(std::string message) {
  return {500, "api_error", "internal_error", std::move(message), ""};
}

}  // namespace fulcrum::api
