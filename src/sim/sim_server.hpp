#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "sim_config.hpp"

namespace fulcrum::sim {

// Serves every simulated endpoint from one thread (the simulation's state needs no locks;
// zero-delay endpoints still answer tens of thousands of requests per second).
class SimServer {
 public:
  explicit SimServer(SimConfig config);
  ~SimServer();

  // Binds every endpoint and prints "listening NAME HOST:PORT" for each, so a test that
  // asked for port 0 learns the port.
  void start();
  void run();  // until stop() or SIGINT/SIGTERM
  // Safe from any thread.
  void stop();
  // After start(): the port endpoint `name` listens on (0 when there is no such endpoint).
  std::uint16_t port(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fulcrum::sim
