#include "runtime.hpp"

#include <nlohmann/json.hpp>
#include <random>

namespace fulcrum::net {
namespace {

std::string models_json(const config::Config& config) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& alias : config.models) {
    data.push_back(
        {{"id", alias.name}, {"object", "model"}, {"created", 0}, {"owned_by", "fulcrum"}});
  }
  return nlohmann::json{{"object", "list"}, {"data", std::move(data)}}.dump();
}

ssl::context make_client_tls() {
  ssl::context tls(ssl::context::tls_client);
  tls.set_default_verify_paths();  // the system trust store
  tls.set_verify_mode(ssl::verify_peer);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  return tls;
}

}  // namespace

Runtime::Runtime(config::Config config, std::string version)
    : version_(std::move(version)), metrics_(version_), tls_(make_client_tls()) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->meters = metrics_.bind(config);
  snapshot->live = std::make_shared<router::LiveState>(config);
  snapshot->models_json = models_json(config);
  snapshot->config = std::move(config);
  snapshot_.store(std::move(snapshot));
}

Worker::Worker(unsigned worker_index, Runtime& runtime)
    : index(worker_index), ids(worker_index), random_state(std::random_device{}()) {
  const auto snapshot = runtime.snapshot();
  for (const auto& endpoint : snapshot->config.endpoints) {
    // The snapshot outlives the pools: Runtime holds it for the gateway's life.
    pools.push_back(std::make_unique<UpstreamPool>(io, endpoint, runtime.tls()));
  }
}

}  // namespace fulcrum::net
