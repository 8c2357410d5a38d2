#pragma once
// The admin plane: /metrics, /healthz, /readyz, /admin/config, /admin/endpoints. Loopback by
// default; never on the data port.
#include "fulcrum/net/http_server.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

class AdminHandler {
 public:
  explicit AdminHandler(Runtime& runtime) : runtime_(runtime) {}
  awaitable<bool> handle(beast::tcp_stream& client, Request& request);

 private:
  Runtime& runtime_;
};

}  // namespace fulcrum::net
