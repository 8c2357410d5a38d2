#include "admin_handler.hpp"

#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {

awaitable<bool> AdminHandler::handle(beast::tcp_stream& client, Request& request) {
  const std::string_view path = path_of(request.target());
  const bool keep_alive = request.keep_alive();
  const auto timeout = runtime_.snapshot()->config.server.limits.idle_timeout;
  http::response<http::string_body> res;
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    res = error_response(api::ApiError::method_not_allowed(request.method_string(), path),
                         request.version(), keep_alive);
  } else if (path == "/metrics") {
    res = http::response<http::string_body>{http::status::ok, request.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = runtime_.metrics().scrape();
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
