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
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fulcrum::sim
