#include "proxy_handler.hpp"

#include "fulcrum/net/http_util.hpp"
#include "proxy_request.hpp"

namespace fulcrum::net {

awaitable<bool> ProxyHandler::handle(ClientReply& reply, Request& request) {
  const std::string_view path = path_of(request.target());
  std::optional<api::Operation> op;
  if (path == "/v1/chat/completions") op = api::Operation::chat_completions;
  if (path == "/v1/completions") op = api::Operation::completions;
  if (path == "/v1/embeddings") op = api::Operation::embeddings;
  if (op && request.method() == http::verb::post) {
    ProxyRequest proxied(runtime_, worker_, reply, request, *op);
    co_await proxied.run();
    co_return reply.reusable();
  }

  const auto snapshot = runtime_.snapshot();
  if (path == "/v1/models" && request.method() == http::verb::get) {
    auto res = json_response(200, snapshot->models_json, request.version(), request.keep_alive());
    co_return co_await reply.send(res) && request.keep_alive();
  }
  const bool known = op || path == "/v1/models";
  const auto error = known ? api::ApiError::method_not_allowed(request.method_string(), path)
                           : api::ApiError::not_found(path);
  auto res = error_response(error, request.version(), request.keep_alive());
  if (known) res.set(http::field::allow, op ? "POST" : "GET");
  co_return co_await reply.send(res) && request.keep_alive();
}

}  // namespace fulcrum::net
