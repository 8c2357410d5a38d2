#pragma once
// The admin plane: /metrics, /healthz, /readyz, /admin/config, /admin/endpoints,
// /admin/reload, /admin/report. Loopback by default; never on the data port.
#include "fulcrum/net/http_server.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

class AdminHandler {
 public:
  // Reloads run on `control`, the context that also serves signals and file changes: parsing
  // YAML and a price catalog must not stall a data-plane worker.
  AdminHandler(Runtime& runtime, asio::io_context& control)
      : runtime_(runtime), control_(control) {}
  ~AdminHandler() { reports_.join(); }
  awaitable<bool> handle(ClientReply& reply, Request& request);

 private:
  // GET /admin/report[?since=WHEN]: the breakeven report over the ledger, as JSON. Computed
  // on its own thread: a long ledger must not stall the worker that also serves traffic.
  awaitable<http::response<http::string_body>> report(std::string_view target, unsigned version,
                                                      bool keep_alive);

  awaitable<ReloadResult> reload();

  Runtime& runtime_;
  asio::io_context& control_;
  asio::thread_pool reports_{1};
};

}  // namespace fulcrum::net
