#pragma once
// What the router knows about endpoints from live traffic: in-flight counts, latency
// estimates, circuit breakers, when each was last used. Shared by every worker thread and
// updated with atomics only; the router reads it, the proxy feeds it.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/duration.hpp"
#include "fulcrum/router/retry_budget.hpp"

namespace fulcrum::router {

using TimePoint = core::Clock::time_point;

// Peak-EWMA: a sample above the estimate replaces it at once (latency spikes are believed
// immediately), lower samples pull it down smoothly. Without samples it drifts back to its
// seed, so an endpoint that was avoided for being slow is eventually tried again.
// Concurrent observations may overwrite each other; for an estimate that is acceptable.
class LatencyEstimate {
 public:
  explicit LatencyEstimate(double seed_seconds);

  void observe(double seconds, TimePoint now);
  double predict(TimePoint now) const;
  double seed() const { return seed_.load(std::memory_order_relaxed); }
  // A reloaded config may seed the estimate differently; what was learned stays.
  void reseed(double seed_seconds) { seed_.store(seed_seconds, std::memory_order_relaxed); }

 private:
  std::atomic<double> seed_;
  std::atomic<double> value_;
  std::atomic<std::int64_t> updated_ns_{0};  // 0: never observed
};

// The mean of what is observed, recent samples weighing more (an EWMA over the last ~kSamples
// observations). Unlike LatencyEstimate it does not jump to spikes: it predicts a typical
// duration, which is what a queue's wait adds up. Empty until the first observation.
class RunningMean {
 public:
  static constexpr double kSamples = 20;
  void observe(double value);
  std::optional<double> mean() const;

 private:
  std::atomic<double> value_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Opens after `failures` consecutive failures, for `cooldown`; then lets one probe through,
// which closes it on success or reopens it on failure.
class CircuitBreaker {
 public:
  enum class State { closed, open, half_open };

  explicit CircuitBreaker(const config::CircuitBreakerPolicy& policy) { set_policy(policy); }
  // Takes effect for the next failure; the current state (open, failures so far) stays.
  void set_policy(const config::CircuitBreakerPolicy& policy);

  State state(TimePoint now) const;
  // Whether an attempt may go now; in half-open state only the first caller gets true.
  bool try_acquire(TimePoint now);
  void on_success();
  // Returns true when this failure opened the circuit.
  bool on_failure(TimePoint now);
  // An attempt that says nothing of the endpoint's health (a flex attempt that timed out):
  // neither counts; a half-open probe it held goes to the next caller.
  void on_inconclusive() { probing_.store(false, std::memory_order_release); }

 private:
  std::atomic<unsigned> failure_threshold_{0};
  std::atomic<std::int64_t> cooldown_ns_{0};
  std::atomic<unsigned> consecutive_failures_{0};
  std::atomic<std::int64_t> open_until_ns_{0};  // 0: closed
  std::atomic<bool> probing_{false};
};

class EndpointState {
 public:
  explicit EndpointState(const config::Endpoint& endpoint);
  // Applies a reloaded endpoint's seeds and breaker policy, keeping what was learned.
  void retune(const config::Endpoint& endpoint);

  unsigned in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // Takes a slot if fewer than `limit` are taken (0 = no limit). Pair with release(). A
  // request of a class the endpoint's headroom is kept for (`reserved`) is also counted apart:
  // it stands in the reserve, so other classes keep their whole share.
  bool try_admit(unsigned limit, bool reserved = false);
  void release(bool reserved = false) {
    if (reserved) reserved_in_flight_.fetch_sub(1, std::memory_order_relaxed);
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
  }
  // Slots held by requests of the classes headroom is kept for.
  unsigned reserved_in_flight() const {
    return reserved_in_flight_.load(std::memory_order_relaxed);
  }

  // Idle past the cold-start threshold (never used counts as idle).
  bool is_cold(const config::Endpoint& endpoint, TimePoint now) const;
  void mark_active(TimePoint now);
  // How long since the endpoint last answered (a very long time if it never did).
  core::Duration idle_for(TimePoint now) const;

  // The load the upstream itself reports (Azure's azure-openai-deployment-utilization: 1.0 =
  // full), which counts every client of a deployment, not only this gateway's. A report is
  // believed for kReportFresh; with none newer, the router goes by its own count again.
  static constexpr core::Duration kReportFresh = std::chrono::seconds(10);
  void report_utilization(double fraction, TimePoint now);
  std::optional<double> reported_utilization(TimePoint now) const;

  // Slots taken on this endpoint by every replica sharing state (state.redis), as Redis last
  // counted them. Believed for kFleetFresh: a count that old may have drained since, and the
  // lease taken before each attempt decides anyway.
  static constexpr core::Duration kFleetFresh = std::chrono::seconds(1);
  void report_fleet_in_flight(unsigned count, TimePoint now);
  std::optional<unsigned> fleet_in_flight(TimePoint now) const;

  // What the serving engine reports on its /metrics (endpoints.*.load): every client's
  // running and waiting requests and its KV-cache use. Believed while younger than
  // `stale_after`; older, the router goes by Fulcrum's own counts again.
  struct EngineReading {
    unsigned running = 0;
    unsigned waiting = 0;
    std::optional<double> kv_cache_usage;  // 0..1
  };
  void report_engine_load(const EngineReading& reading, TimePoint now);
  std::optional<EngineReading> engine_load(TimePoint now, core::Duration stale_after) const;

  // Requests held by the gateway waiting for a slot here (net's SlotQueue counts them), in all
  // and by SLO class (classes past the last count share it).
  static constexpr std::size_t kWaitingClasses = 8;
  unsigned waiting() const { return waiting_.load(std::memory_order_relaxed); }
  unsigned waiting(std::size_t slo_class) const {
    return waiting_by_class_[std::min(slo_class, kWaitingClasses - 1)].load(
        std::memory_order_relaxed);
  }
  void join_waiting(std::size_t slo_class) {
    waiting_by_class_[std::min(slo_class, kWaitingClasses - 1)].fetch_add(
        1, std::memory_order_relaxed);
    waiting_.fetch_add(1, std::memory_order_relaxed);
  }
  void leave_waiting(std::size_t slo_class) {
    waiting_by_class_[std::min(slo_class, kWaitingClasses - 1)].fetch_sub(
        1, std::memory_order_relaxed);
    waiting_.fetch_sub(1, std::memory_order_relaxed);
  }

  LatencyEstimate ttft;
  LatencyEstimate per_output_token;
  // How long a request keeps a slot here, from taking it to giving it back: what a waiting
  // request's predicted wait is made of.
  RunningMean slot_hold;
  CircuitBreaker breaker;

 private:
  std::atomic<unsigned> in_flight_{0};
  std::atomic<unsigned> reserved_in_flight_{0};
  std::atomic<unsigned> waiting_{0};
  std::array<std::atomic<unsigned>, kWaitingClasses> waiting_by_class_{};
  std::atomic<std::int64_t> last_active_ns_{0};  // 0: never
  std::atomic<double> reported_utilization_{0};
  std::atomic<std::int64_t> reported_at_ns_{0};  // 0: never
  std::atomic<unsigned> fleet_in_flight_{0};
  std::atomic<std::int64_t> fleet_at_ns_{0};  // 0: never
  // One scraper writes; readers may see a reading's fields from two scrapes, each believable.
  std::atomic<unsigned> engine_running_{0};
  std::atomic<unsigned> engine_waiting_{0};
  std::atomic<double> engine_kv_{-1};          // -1: not reported
  std::atomic<std::int64_t> engine_at_ns_{0};  // 0: never
};

// A request's place in an endpoint's in-flight count, given back when the slot goes out of
// scope however the scope is left (a return, an exception, a destroyed coroutine frame).
class EndpointSlot {
 public:
  // A slot if fewer than `limit` are taken (0 = no limit), else nullopt. `reserved`: the
  // request's class is one the endpoint's headroom is kept for.
  static std::optional<EndpointSlot> try_take(EndpointState& state, unsigned limit,
                                              bool reserved = false) {
    if (!state.try_admit(limit, reserved)) return std::nullopt;
    return EndpointSlot(state, reserved);
  }
  EndpointSlot(EndpointSlot&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)), reserved_(other.reserved_) {}
  EndpointSlot& operator=(EndpointSlot&&) = delete;
  ~EndpointSlot() {
    if (state_ != nullptr) state_->release(reserved_);
  }

 private:
  EndpointSlot(EndpointState& state, bool reserved) : state_(&state), reserved_(reserved) {}
  EndpointState* state_;
  bool reserved_;
};

// Endpoint states are shared between the snapshots of successive configs: requests still
// running on an old snapshot release their slots into the same counters the new one admits
// against, and an endpoint keeps its latency estimates and circuit across a reload.
class LiveState {
 public:
  explicit LiveState(const config::Config& config);
  // For a reloaded config: endpoints and routes that still exist (by name) carry over from
  // `previous`, and so do the retry budget's counts, under the new config's policy.
  LiveState(const config::Config& config, const LiveState& previous);

  EndpointState& endpoint(std::size_t index) { return *endpoints_[index]; }
  const EndpointState& endpoint(std::size_t index) const { return *endpoints_[index]; }

  // Running average of output tokens per request, by route: the expected output of a
  // request that does not set max_tokens.
  double expected_output_tokens(std::size_t route) const;
  void observe_output_tokens(std::size_t route, std::uint64_t tokens);

  RetryBudget& retry_budget() { return *retry_budget_; }

 private:
  std::shared_ptr<RetryBudget> retry_budget_;
  std::vector<std::string> endpoint_names_;
  std::vector<std::shared_ptr<EndpointState>> endpoints_;
  std::vector<std::string> route_names_;
  std::unique_ptr<std::atomic<double>[]> output_average_;
};

}  // namespace fulcrum::router
