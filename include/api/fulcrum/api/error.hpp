#pragma once
// Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
#include <optional>
#include <string>

namespace fulcrum::api {

enum class Operation;  // request.hpp

struct ApiError {
  unsigned status = 500;
  std::string type;     // "invalid_request_error", "api_error", ...
  std::string code;     // "model_not_found", ... ("" → null)
  std::string message;  // for humans; never carries a secret, a prompt or a completion
  std::string param;    // the offending request field ("" → null)

  std::string to_json() const;
  // Anthropic's shape, {"type": "error", "error": {"type", "message"}}, for /v1/messages.
  std::string to_anthropic_json() const;
  // The shape of the API `op` belongs to.
  std::string to_json(Operation op) const;

  static ApiError invalid_request(std::string message, std::string param = {},
                                  std::string code = {});
  static ApiError model_not_found(std::string_view model);
  // 404: a Responses API id Fulcrum has no record of. `param` names the request field that held
  // it ("previous_response_id"), or is empty when it was in the path.
  static ApiError response_not_found(std::string_view id, std::string_view param);
  static ApiError not_found(std::string_view path);
  // 404 on the data plane: names what Fulcrum serves, so a wrong base URL reads as one.
  static ApiError unknown_endpoint(std::string_view method, std::string_view path);
  static ApiError method_not_allowed(std::string_view method, std::string_view path);
  static ApiError body_too_large(std::size_t limit);
  static ApiError headers_too_large(std::size_t limit);
  static ApiError too_many_headers(std::size_t limit);
  // 503: the connection caps (server.limits.max_connections[_per_client]).
  static ApiError too_many_connections(std::string_view scope);
  static ApiError bad_gateway(std::string message);
  static ApiError gateway_timeout(std::string message);
  static ApiError service_unavailable(std::string message);
  static ApiError unauthorized(std::string message);
  static ApiError model_not_allowed(std::string_view model);
  // Per-key RPM or TPM exhausted: `kind` is "requests" or "tokens", as OpenAI reports it.
  static ApiError rate_limited(std::string_view kind, std::string message);
  static ApiError insufficient_quota(std::string message);
  static ApiError internal(std::string message);
};

}  // namespace fulcrum::api
