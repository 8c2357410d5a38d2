#include "admin_handler.hpp"

#include <openssl/crypto.h>

#include "admin_views.hpp"
#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {
namespace {

// /metrics and /admin/* reveal spend, keys' ids and endpoints: behind the token when one is
// configured. /healthz and /readyz stay open for probes.
bool authorized(const Request& request, const config::ServerConfig& server) {
  if (server.admin_token.empty()) return true;
  const std::string_view header = request[http::field::authorization];
  const std::string_view token = server.admin_token.reveal();
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() != kBearer.size() + token.size() || header.substr(0, kBearer.size()) != kBearer)
    return false;
  return CRYPTO_memcmp(header.data() + kBearer.size(), token.data(), token.size()) == 0;
}

}  // namespace

awaitable<bool> AdminHandler::handle(beast::tcp_stream& client, Request& request) {
  const std::string_view path = path_of(request.target());
  const bool keep_alive = request.keep_alive();
  const auto snapshot = runtime_.snapshot();
  const config::ServerConfig& server = snapshot->config.server;
  const auto timeout = server.limits.idle_timeout;
  const bool guarded = path == "/metrics" || path.substr(0, 7) == "/admin/";
  http::response<http::string_body> res;
  // Reloading changes state: POST only. Everything else is read with GET (or HEAD).
  const bool is_reload = path == "/admin/reload";
  const bool method_fits =
      is_reload ? request.method() == http::verb::post
                : request.method() == http::verb::get || request.method() == http::verb::head;
  if (!method_fits) {
    res = error_response(api::ApiError::method_not_allowed(request.method_string(), path),
                         request.version(), keep_alive);
  } else if (guarded && !authorized(request, server)) {
    res = error_response(
        api::ApiError::unauthorized("The admin API needs 'Authorization: Bearer <admin token>'."),
        request.version(), keep_alive);
  } else if (is_reload) {
    const ReloadResult result = runtime_.reload("admin");
    res = json_response(result.ok ? 200 : 422, reload_view(result), request.version(), keep_alive);
  } else if (path == "/metrics") {
    res = http::response<http::string_body>{http::status::ok, request.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = runtime_.metrics().scrape();
  } else if (path == "/admin/config") {
    res = json_response(200, config_view(*snapshot), request.version(), keep_alive);
  } else if (path == "/admin/endpoints") {
    res = json_response(200, endpoints_view(*snapshot), request.version(), keep_alive);
  } else if (path == "/healthz") {
    res = json_response(200, R"({"status":"ok"})", request.version(), keep_alive);
  } else if (path == "/readyz") {
    const bool ready = runtime_.ready.load();
    res = json_response(ready ? 200 : 503,
                        ready ? R"({"status":"ready"})" : R"({"status":"not ready"})",
                        request.version(), keep_alive);
  } else {
    res = error_response(api::ApiError::not_found(path), request.version(), keep_alive);
  }
  res.keep_alive(keep_alive);
  res.prepare_payload();
  if (request.method() == http::verb::head) res.body().clear();
  co_return co_await write_response(client, res, timeout) && keep_alive;
}

}  // namespace fulcrum::net
