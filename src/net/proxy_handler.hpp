#pragma once
// The data plane's paths: the proxied OpenAI operations (each a ProxyRequest), the calls on a
// stored Responses API response (stored_response.hpp), GET /v1/models and /v1/models/{model},
// and errors for everything else that say what Fulcrum serves.
#include "fulcrum/net/http_server.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

class ProxyHandler {
 public:
  ProxyHandler(Runtime& runtime, Worker& worker) : runtime_(runtime), worker_(worker) {}

  awaitable<bool> handle(ClientReply& reply, Request& request);

 private:
  http::response<http::string_body> model_response(const std::string& model,
                                                   const Request& request);

  Runtime& runtime_;
  Worker& worker_;
};

}  // namespace fulcrum::net
