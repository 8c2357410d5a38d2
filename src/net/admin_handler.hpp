#pragma once
// The admin plane: /metrics, /healthz, /readyz, /admin/config, /admin/endpoints,
// /admin/reload, /admin/report. Loopback by default; never on the data port.
#include "fulcrum/net/http_server.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

class AdminHandler {
 public:
  explicit AdminHandler(Runtime& runtime) : runtime_(runtime) {}
  ~AdminHandler() { reports_.join(); }
  awaitable<bool> handle(beast::tcp_stream& client, Request& request);

 private:
  // GET /admin/report[?since=WHEN]: the breakeven report over the ledger, as JSON. Computed
  // on its own thread: a long ledger must not stall the worker that also serves traffic.
  awaitable<http::response<http::string_body>> report(std::string_view target, unsigned version,
                                                      bool keep_alive);

  Runtime& runtime_;
  asio::thread_pool reports_{1};
};

}  // namespace fulcrum::net
