// fulcrum-sim: simulated OpenAI-compatible endpoints for the demo, the tests and the benchmark.
#include <iostream>
#include <string>

#include "sim_server.hpp"

namespace {

constexpr const char* kUsage = R"(fulcrum-sim: simulated OpenAI-compatible endpoints

usage:
  fulcrum-sim --config FILE        endpoints from YAML (see config/sim-demo.yaml)
  fulcrum-sim --listen HOST:PORT   one zero-delay endpoint named "sim" (benchmarks)
  fulcrum-sim --help

Prints "listening NAME HOST:PORT" for every endpoint once it accepts connections.
)";

}  // namespace

int main(int argc, char** argv) {
  using fulcrum::sim::SimConfig;
  SimConfig config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--config" && i + 1 < argc) {
      auto loaded = fulcrum::sim::load_sim_config(argv[++i]);
      if (!loaded) {
        std::cerr << "fulcrum-sim: " << loaded.error() << "\n";
        return 2;
      }
      config = std::move(*loaded);
      continue;
    }
    if (arg == "--listen" && i + 1 < argc) {
      const auto at = fulcrum::core::parse_host_port(argv[++i]);
      if (!at) {
        std::cerr << "fulcrum-sim: --listen needs HOST:PORT\n";
        return 2;
      }
      fulcrum::sim::SimEndpoint endpoint;
      endpoint.name = "sim";
      endpoint.listen = *at;
      config.endpoints.push_back(endpoint);
      continue;
    }
    std::cerr << "fulcrum-sim: unknown argument '" << arg << "'\n\n" << kUsage;
    return 2;
  }
  if (config.endpoints.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  try {
    fulcrum::sim::SimServer server(std::move(config));
    server.start();
    server.run();
  } catch (const std::exception& e) {
    std::cerr << "fulcrum-sim: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
