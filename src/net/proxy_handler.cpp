#include "proxy_handler.hpp"

#include <nlohmann/json.hpp>

#include "fulcrum/net/http_util.hpp"
#include "proxy_request.hpp"
#include "stored_response.hpp"

namespace fulcrum::net {
namespace {

constexpr std::string_view kModelsPrefix = "/v1/models/";

std::optional<api::Operation> operation_at(std::string_view path) {
  if (path == "/v1/chat/completions") return api::Operation::chat_completions;
  if (path == "/v1/completions") return api::Operation::completions;
  if (path == "/v1/embeddings") return api::Operation::embeddings;
  if (path == "/v1/responses") return api::Operation::responses;
  if (path == "/v1/messages") return api::Operation::messages;
  return std::nullopt;
}

}  // namespace

awaitable<bool> ProxyHandler::handle(ClientReply& reply, Request& request) {
  const std::string_view path = path_of(request.target());
  const std::optional<api::Operation> op = operation_at(path);
  if (op && request.method() == http::verb::post) {
    ProxyRequest proxied(runtime_, worker_, reply, request, *op);
    co_await proxied.run();
    co_return reply.reusable();
  }
  if (path.starts_with(kResponsesPrefix)) {
    co_return co_await serve_stored_response(runtime_, worker_, reply, request, path);
  }
  const bool get = request.method() == http::verb::get;
  const bool keep_alive = request.keep_alive();
  if (path == "/v1/models" && get) {
    auto res = json_response(200, runtime_.snapshot()->models_json, request.version(), keep_alive);
    co_return co_await reply.send(res) && keep_alive;
  }
  if (path.starts_with(kModelsPrefix) && get) {
    auto res = model_response(percent_decoded(path.substr(kModelsPrefix.size())), request);
    co_return co_await reply.send(res) && keep_alive;
  }
  const bool known = op || path == "/v1/models" || path.starts_with(kModelsPrefix);
  const auto error = known ? api::ApiError::method_not_allowed(request.method_string(), path)
                           : api::ApiError::unknown_endpoint(request.method_string(), path);
  auto res = error_response(error, request.version(), keep_alive);
  if (known) res.set(http::field::allow, op ? "POST" : "GET");
  co_return co_await reply.send(res) && keep_alive;
}

// GET /v1/models/{model}: an alias of the running config, in OpenAI's shape.
http::response<http::string_body> ProxyHandler::model_response(const std::string& model,
                                                               const Request& request) {
  const auto snapshot = runtime_.snapshot();
  if (snapshot->config.find_alias(model) == nullptr) {
    return error_response(api::ApiError::model_not_found(model), request.version(),
                          request.keep_alive());
  }
  const nlohmann::json body = {
      {"id", model}, {"object", "model"}, {"created", 0}, {"owned_by", "fulcrum"}};
  return json_response(200, body.dump(), request.version(), request.keep_alive());
}

}  // namespace fulcrum::net
