#pragma once
// The running gateway: worker threads, listeners, shared runtime. Composed by main.cpp.
#include <cstdint>
#include <memory>
#include <string>

#include "fulcrum/config/config.hpp"

namespace fulcrum::net {

class Gateway {
 public:
  Gateway(config::Config config, std::string version);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds both listeners (throws std::system_error when an address is taken) and starts the
  // worker threads. The bound ports are known when it returns (useful with port 0).
  void start();
  // Blocks until the gateway stopped: after stop(), or after a drain.
  void wait();
  // Graceful (also on SIGINT/SIGTERM): refuse new connections, /readyz 503, let requests and
  // streams in flight finish up to server.drain_timeout, close the rest, then stop.
  void drain();
  // Immediate: stops every worker now.
  void stop();

  std::uint16_t data_port() const;
  std::uint16_t admin_port() const;

 private:
  // SIGINT/SIGTERM drain; SIGHUP reloads the config and waits for the next signal.
  void wait_for_signal();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fulcrum::net
