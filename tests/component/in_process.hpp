#pragma once
// The gateway's data plane in the test's own process: fulcrum-sim on a thread of its own, and
// one worker whose connections are Beast test streams driven by the test thread. No child
// processes, no listening gateway socket; the clocks may be advanced (core::advance_clocks).
#include <memory>
#include <string>
#include <thread>

#include "../support/temp_dir.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/net/http_server.hpp"
#include "proxy_handler.hpp"
#include "runtime.hpp"
#include "sim_config.hpp"
#include "sim_server.hpp"

namespace fulcrum::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
using net::error_code;

class InProcessGateway {
 public:
  // `gateway_yaml` names sim endpoints as ${NAME}, as the Stack of the integration tests does;
  // the ledger is off unless the YAML turns it on.
  InProcessGateway(const std::string& sim_yaml, const std::string& gateway_yaml);
  ~InProcessGateway();

  // One request on a connection of its own (the request should say Connection: close), run
  // until the connection ends; returns every byte the gateway wrote. With `fail`, the
  // connection's Nth read or write fails.
  std::string exchange(const std::string& raw_request, beast::test::fail_count* fail = nullptr);

  net::Runtime& runtime() { return *runtime_; }
  // Requests the sim endpoint `name` has received.
  int sim_requests(const std::string& name) const;
  std::shared_ptr<const net::Snapshot> snapshot() { return runtime_->snapshot(); }
  // Whether the last exchange's coroutine let an exception escape (it never should).
  bool escaped() const { return escaped_; }

 private:
  TempDir dir_{"component"};
  std::unique_ptr<sim::SimServer> sim_;
  std::thread sim_thread_;
  std::unique_ptr<net::Runtime> runtime_;
  std::unique_ptr<net::Worker> worker_;
  std::unique_ptr<net::ProxyHandler> handler_;
  bool escaped_ = false;
};

// A chat completion request on its own connection.
std::string chat_request(const std::string& model, int max_tokens, bool stream);

}  // namespace fulcrum::testing
