#pragma once
// The data plane's paths: the proxied OpenAI operations (each a ProxyRequest), GET /v1/models,
// and errors for everything else.
#include "fulcrum/net/http_server.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

class ProxyHandler {
 public:
  ProxyHandler(Runtime& runtime, Worker& worker) : runtime_(runtime), worker_(worker) {}

  awaitable<bool> handle(ClientReply& reply, Request& request);

 private:
  Runtime& runtime_;
  Worker& worker_;
};

}  // namespace fulcrum::net
