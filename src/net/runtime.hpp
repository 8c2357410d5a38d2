#pragma once
// State shared by every worker thread, and the per-thread worker.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "access_log.hpp"
#include "fulcrum/config/config.hpp"
#include "fulcrum/metering/metrics.hpp"
#include "fulcrum/net/asio.hpp"
#include "fulcrum/net/connection_tracker.hpp"
#include "request_id.hpp"
#include "upstream_pool.hpp"

namespace fulcrum::net {

// One configuration with everything derived from it. Immutable once published.
struct Snapshot {
  config::Config config;
  std::shared_ptr<const metering::MeterTable> meters;
  std::string models_json;  // the GET /v1/models body, built once
};

class Runtime {
 public:
  Runtime(config::Config config, std::string version);

  std::shared_ptr<const Snapshot> snapshot() const {
    return snapshot_.load(std::memory_order_acquire);
  }
  metering::Metrics& metrics() { return metrics_; }
  ssl::context& tls() { return tls_; }
  const std::string& version() const { return version_; }

  std::atomic<bool> ready{false};

 private:
  std::string version_;
  metering::Metrics metrics_;
  ssl::context tls_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
};

// One thread's share of the gateway: an io_context run by that thread alone, its acceptor
// and its upstream pools. Nothing here is touched from another thread.
struct Worker {
  Worker(unsigned index, Runtime& runtime);

  unsigned index;
  asio::io_context io{1};
  std::vector<std::unique_ptr<UpstreamPool>> pools;  // by endpoint index
  RequestIdSource ids;
  AccessLog access_log;
  ConnectionTracker connections;  // data-plane clients of this worker
};

}  // namespace fulcrum::net
