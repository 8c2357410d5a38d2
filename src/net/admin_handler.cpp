#include "admin_handler.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <exception>

#include "admin_views.hpp"
#include "fulcrum/core/when.hpp"
#include "fulcrum/metering/breakeven.hpp"
#include "fulcrum/net/http_util.hpp"
#include "fulcrum/report/render.hpp"

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

// The value of `name` in the query string of `target`, or "".
std::string query_value(std::string_view target, std::string_view name) {
  const auto query = target.find('?');
  if (query == std::string_view::npos) return "";
  std::string_view rest = target.substr(query + 1);
  while (!rest.empty()) {
    const std::string_view pair = rest.substr(0, rest.find('&'));
    rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
    if (pair.substr(0, pair.find('=')) == name && pair.find('=') != std::string_view::npos) {
      return std::string(pair.substr(pair.find('=') + 1));
    }
  }
  return "";
}

}  // namespace

awaitable<http::response<http::string_body>> AdminHandler::report(std::string_view target,
                                                                  unsigned version,
                                                                  bool keep_alive) {
  const auto snapshot = runtime_.snapshot();
  const std::string since_text = query_value(target, "since");
  const auto since = core::parse_when(since_text.empty() ? "30d" : since_text);
  if (!since) {
    co_return error_response(
        api::ApiError::invalid_request(std::string("since: ") + core::kWhenHelp, "since"), version,
        keep_alive);
  }
  if (!snapshot->config.ledger.enabled) {
    co_return error_response(
        api::ApiError::invalid_request(
            "The ledger is disabled (ledger.enabled: false): there is no traffic to report."),
        version, keep_alive);
  }
  auto back = co_await asio::this_coro::executor;
  co_await resume_on(reports_.get_executor());
  std::string body;
  // Whatever happens on the pool, the coroutine goes back to its worker before it goes on: the
  // connection's socket belongs to that worker's thread.
  std::exception_ptr failed;
  try {
    if (auto store = metering::open_ledger_reader(snapshot->config.ledger)) {
      const std::int64_t until = *core::parse_when("0s");
      metering::TrafficBook book(snapshot->config, *since, until);
      (*store)->for_each_usage(*since, until,
                               [&book](const metering::UsageRecord& r) { book.add(r); });
      // Part of the traffic is no report: a 503 says the ledger cannot be read.
      if ((*store)->complete()) body = report::report_json(book.analyse());
    }
  } catch (...) {
    failed = std::current_exception();
  }
  co_await resume_on(back);
  if (failed) std::rethrow_exception(failed);
  if (body.empty()) {
    co_return error_response(api::ApiError::service_unavailable("The ledger cannot be read."),
                             version, keep_alive);
  }
  co_return json_response(200, body, version, keep_alive);
}

awaitable<ReloadResult> AdminHandler::reload() {
  spdlog::info("config_reload_requested trigger=admin");
  auto back = co_await asio::this_coro::executor;
  co_await resume_on(control_.get_executor());
  ReloadResult result;
  std::exception_ptr failed;  // rethrown on the worker, as for report()
  try {
    result = runtime_.reload("admin");
  } catch (...) {
    failed = std::current_exception();
  }
  co_await resume_on(back);
  if (failed) std::rethrow_exception(failed);
  co_return result;
}

awaitable<bool> AdminHandler::handle(ClientReply& reply, Request& request) {
  const std::string_view path = path_of(request.target());
  const bool keep_alive = request.keep_alive();
  const auto snapshot = runtime_.snapshot();
  const config::ServerConfig& server = snapshot->config.server;
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
    const ReloadResult result = co_await reload();
    res = json_response(result.ok ? 200 : 422, reload_view(result), request.version(), keep_alive);
  } else if (path == "/metrics") {
    res = http::response<http::string_body>{http::status::ok, request.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = runtime_.metrics().scrape();
  } else if (path == "/admin/config") {
    res = json_response(200, config_view(*snapshot), request.version(), keep_alive);
  } else if (path == "/admin/report") {
    res = co_await report(request.target(), request.version(), keep_alive);
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
  co_return co_await reply.send(res) && keep_alive;
}

}  // namespace fulcrum::net
