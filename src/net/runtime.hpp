#pragma once
// State shared by every worker thread, and the per-thread worker.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "access_log.hpp"
#include "fulcrum/auth/rate_limiter.hpp"
#include "fulcrum/config/config.hpp"
#include "fulcrum/metering/budgets.hpp"
#include "fulcrum/metering/hour_profile.hpp"
#include "fulcrum/metering/ledger.hpp"
#include "fulcrum/metering/metrics.hpp"
#include "fulcrum/metering/provisioned.hpp"
#include "fulcrum/net/asio.hpp"
#include "fulcrum/net/connection_tracker.hpp"
#include "fulcrum/router/live_state.hpp"
#include "request_id.hpp"
#include "response_pins.hpp"
#include "shared_state.hpp"
#include "slot_queue.hpp"
#include "upstream_pool.hpp"

namespace fulcrum::net {

// One configuration with everything derived from it. Immutable once published.
struct Snapshot {
  config::Config config;
  std::shared_ptr<const metering::MeterTable> meters;
  // Live endpoint state, indexed like config.endpoints; mutable through atomics only.
  std::shared_ptr<router::LiveState> live;
  // Spend and rate limits of this config's budgets and keys; internally synchronised.
  std::shared_ptr<metering::BudgetBook> budgets;
  std::shared_ptr<auth::RateLimiter> rate_limits;
  // Utilization and cost meters of the provisioned endpoints; internally synchronised.
  std::shared_ptr<metering::Economics> economics;
  std::string models_json;  // the GET /v1/models body, built once
  std::string config_hash;  // SHA-256 of the YAML text, hex
  std::string loaded_at;    // UTC, ISO 8601
  // By endpoint index: which of a worker's upstream pools serves it. An endpoint keeps its
  // pool (and its warm connections) across reloads while its name and URL stay the same.
  std::vector<std::size_t> pool_ids;
  // By endpoint index: the gateway's wait queue for a slot there, kept across reloads by name
  // (requests on an old snapshot wait in the same queue new ones join).
  std::vector<std::shared_ptr<SlotQueue>> slot_queues;
  // Every non-empty secret of `config` (endpoint keys, the admin token), to scrub from text
  // that came from outside.
  std::vector<const core::Secret*> secrets;
};

struct ReloadResult {
  bool ok = false;
  bool changed = false;             // false: the file's text is the running one
  std::string hash;                 // of the config running afterwards
  std::vector<std::string> errors;  // "file:line:col: message"
};

class Runtime {
 public:
  Runtime(config::Config config, std::string version);

  // Reads the config file again and, when it is valid, publishes a snapshot built from it;
  // requests in flight finish on the snapshot they started with. An invalid file changes
  // nothing. `trigger` (signal, file, admin) is for the log. Safe from any thread.
  ReloadResult reload(std::string_view trigger);

  std::shared_ptr<const Snapshot> snapshot() const {
    return snapshot_.load(std::memory_order_acquire);
  }
  metering::Metrics& metrics() { return metrics_; }
  // Null when the ledger is disabled.
  metering::Ledger* ledger() { return ledger_.get(); }
  // Commits every queued ledger row; called once the workers have stopped.
  void close_ledger();
  ClientTls& tls() { return tls_; }
  const std::string& version() const { return version_; }
  // "fulcrum/<version>", sent upstream.
  const std::string& user_agent() const { return user_agent_; }

  // What the ledger's hour-of-week profile recommends (traffic_planner.cpp); null until the
  // first plan, or with the ledger disabled.
  std::shared_ptr<const metering::TrafficPlan> plan() const {
    return plan_.load(std::memory_order_acquire);
  }
  void set_plan(std::shared_ptr<const metering::TrafficPlan> plan) {
    plan_.store(std::move(plan), std::memory_order_release);
  }

  std::atomic<bool> ready{false};
  ResponsePins response_pins;
  // Late answers still being read for their usage: a drain waits for them too, so that
  // tokens spent before a shutdown are metered (see late_answer.hpp).
  std::atomic<int> late_answers_pending{0};

 private:
  std::shared_ptr<Snapshot> build(config::Config config, const Snapshot* previous);
  // Settings a running process cannot change: reported, and the running values kept.
  void keep_restart_only_settings(config::Config& next, const config::Config& running) const;

  std::string version_;
  std::string user_agent_;
  metering::Metrics metrics_;
  ClientTls tls_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::atomic<std::shared_ptr<const metering::TrafficPlan>> plan_;
  std::unique_ptr<metering::Ledger> ledger_;
  std::atomic<bool> ledger_closed_{false};
  std::mutex reload_mutex_;                      // one reload at a time
  std::map<std::string, std::size_t> pool_ids_;  // "name url" → pool id; under reload_mutex_
  // Endpoint name → its wait queue, for the endpoints of the running config; under
  // reload_mutex_.
  std::map<std::string, std::shared_ptr<SlotQueue>> slot_queues_;
};

// One thread's share of the gateway: an io_context run by that thread alone, its acceptor
// and its upstream pools. Nothing here is touched from another thread.
struct Worker {
  Worker(unsigned index, Runtime& runtime);
  // Closes `shared` before the io_context goes, and keeps it until after.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  unsigned index;
  // This worker's connection to the state replicas share; null without state.redis. Declared
  // before the io_context: coroutine frames the io_context destroys may still give slots and
  // holds back to it (closed by then, it only counts them).
  std::unique_ptr<SharedState> shared;
  asio::io_context io{1};
  // The pool for `endpoint` of `snapshot`, created on first use. Shared: an attempt keeps its
  // pool alive even when a reload leaves the pool to be freed meanwhile.
  std::shared_ptr<UpstreamPool> pool(const Snapshot& snapshot, std::size_t endpoint);
  // Closes idle connections past `ttl` or closed by their peer, and frees the pools of
  // endpoints `current` no longer has (by name and URL). Returns the idle connections left.
  std::size_t sweep_pools(const Snapshot& current, core::Duration ttl);
  ClientTls& tls;
  std::vector<std::shared_ptr<UpstreamPool>> pools;  // by Snapshot::pool_ids
  RequestIdSource ids;
  std::uint64_t random_state;  // splitmix64, for jitter and weighted choices
  std::uint64_t random() {
    std::uint64_t z = (random_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  AccessLog access_log;
  ConnectionTracker connections;  // data-plane clients of this worker
  // Set when a drain starts: streams still running then end with an error event.
  core::Clock::time_point drain_deadline = core::Clock::time_point::max();
};

}  // namespace fulcrum::net
