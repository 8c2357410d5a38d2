#include "fulcrum/router/live_state.hpp"

#include <algorithm>
#include <cmath>

namespace fulcrum::router {
namespace {

// How fast lower samples pull an estimate down, and how fast an unobserved one returns to
// its seed.
constexpr double kSmoothingSeconds = 5;
constexpr double kReturnToSeedSeconds = 30;
constexpr double kSeedOutputTokens = 256;
constexpr double kOutputAverageWeight = 0.05;

std::int64_t nanos(TimePoint t) {
  // +1 keeps a real time distinct from the "never" sentinel even at the clock's epoch.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() + 1;
}

double seconds_between(std::int64_t from_ns, std::int64_t to_ns) {
  return static_cast<double>(std::max<std::int64_t>(0, to_ns - from_ns)) / 1e9;
}

}  // namespace

LatencyEstimate::LatencyEstimate(double seed_seconds) : seed_(seed_seconds), value_(seed_seconds) {}

double LatencyEstimate::predict(TimePoint now) const {
  const std::int64_t updated = updated_ns_.load(std::memory_order_relaxed);
  const double seed = seed_.load(std::memory_order_relaxed);
  if (updated == 0) return seed;
  const double value = value_.load(std::memory_order_relaxed);
  const double idle = seconds_between(updated, nanos(now));
  return seed + (value - seed) * std::exp(-idle / kReturnToSeedSeconds);
}

void LatencyEstimate::observe(double seconds, TimePoint now) {
  const std::int64_t updated = updated_ns_.load(std::memory_order_relaxed);
  const double current = predict(now);
  double next = seconds;
  if (seconds < current) {
    const double w =
        updated == 0 ? 0 : std::exp(-seconds_between(updated, nanos(now)) / kSmoothingSeconds);
    next = current * w + seconds * (1 - w);
  }
  value_.store(next, std::memory_order_relaxed);
  updated_ns_.store(nanos(now), std::memory_order_relaxed);
}

void RunningMean::observe(double value) {
  const std::uint64_t seen = count_.fetch_add(1, std::memory_order_relaxed);
  // The first samples are averaged plainly, so one early outlier does not stand for long.
  const double weight = 1.0 / std::min(static_cast<double>(seen + 1), kSamples);
  const double current = value_.load(std::memory_order_relaxed);
  value_.store(current + (value - current) * weight, std::memory_order_relaxed);
}

std::optional<double> RunningMean::mean() const {
  if (count_.load(std::memory_order_relaxed) == 0) return std::nullopt;
  return value_.load(std::memory_order_relaxed);
}

CircuitBreaker::State CircuitBreaker::state(TimePoint now) const {
  const std::int64_t until = open_until_ns_.load(std::memory_order_acquire);
  if (until == 0) return State::closed;
  return nanos(now) < until ? State::open : State::half_open;
}

bool CircuitBreaker::try_acquire(TimePoint now) {
  switch (state(now)) {
    case State::closed:
      return true;
    case State::open:
      return false;
    case State::half_open: {
      bool expected = false;
      return probing_.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
    }
  }
  return false;
}

void CircuitBreaker::on_success() {
  consecutive_failures_.store(0, std::memory_order_relaxed);
  open_until_ns_.store(0, std::memory_order_release);
  probing_.store(false, std::memory_order_release);
}

bool CircuitBreaker::on_failure(TimePoint now) {
  const unsigned failures = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  const bool was_probe = probing_.exchange(false, std::memory_order_acq_rel);
  if (!was_probe && failures < failure_threshold_.load(std::memory_order_relaxed)) return false;
  const std::int64_t previous = open_until_ns_.exchange(
      nanos(now) + cooldown_ns_.load(std::memory_order_relaxed), std::memory_order_acq_rel);
  return previous == 0 || was_probe;
}

void CircuitBreaker::set_policy(const config::CircuitBreakerPolicy& policy) {
  failure_threshold_.store(policy.failures, std::memory_order_relaxed);
  cooldown_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(policy.cooldown).count(),
                     std::memory_order_relaxed);
}

EndpointState::EndpointState(const config::Endpoint& endpoint)
    : ttft(std::chrono::duration<double>(endpoint.latency.ttft).count()),
      per_output_token(endpoint.latency.seconds_per_output_token),
      breaker(endpoint.circuit_breaker) {}

void EndpointState::retune(const config::Endpoint& endpoint) {
  ttft.reseed(std::chrono::duration<double>(endpoint.latency.ttft).count());
  per_output_token.reseed(endpoint.latency.seconds_per_output_token);
  breaker.set_policy(endpoint.circuit_breaker);
}

bool EndpointState::try_admit(unsigned limit, bool reserved) {
  unsigned current = in_flight_.load(std::memory_order_relaxed);
  do {
    if (limit != 0 && current >= limit) return false;
  } while (!in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  if (reserved) reserved_in_flight_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool EndpointState::is_cold(const config::Endpoint& endpoint, TimePoint now) const {
  if (!endpoint.cold_start) return false;
  const std::int64_t last = last_active_ns_.load(std::memory_order_relaxed);
  if (last == 0) return true;
  const auto idle =
      std::chrono::duration_cast<std::chrono::nanoseconds>(endpoint.cold_start->after_idle);
  return nanos(now) - last >= idle.count();
}

void EndpointState::mark_active(TimePoint now) {
  last_active_ns_.store(nanos(now), std::memory_order_relaxed);
}

core::Duration EndpointState::idle_for(TimePoint now) const {
  const std::int64_t last = last_active_ns_.load(std::memory_order_relaxed);
  if (last == 0) return core::Duration::max();
  return std::chrono::duration_cast<core::Duration>(std::chrono::nanoseconds(nanos(now) - last));
}

void EndpointState::report_utilization(double fraction, TimePoint now) {
  reported_utilization_.store(fraction, std::memory_order_relaxed);
  reported_at_ns_.store(nanos(now), std::memory_order_relaxed);
}

std::optional<double> EndpointState::reported_utilization(TimePoint now) const {
  const std::int64_t at = reported_at_ns_.load(std::memory_order_relaxed);
  if (at == 0 || nanos(now) - at > std::chrono::nanoseconds(kReportFresh).count()) {
    return std::nullopt;
  }
  return reported_utilization_.load(std::memory_order_relaxed);
}

void EndpointState::report_engine_load(const EngineReading& reading, TimePoint now) {
  engine_running_.store(reading.running, std::memory_order_relaxed);
  engine_waiting_.store(reading.waiting, std::memory_order_relaxed);
  engine_kv_.store(reading.kv_cache_usage.value_or(-1), std::memory_order_relaxed);
  engine_at_ns_.store(nanos(now), std::memory_order_relaxed);
}

std::optional<EndpointState::EngineReading> EndpointState::engine_load(
    TimePoint now, core::Duration stale_after) const {
  const std::int64_t at = engine_at_ns_.load(std::memory_order_relaxed);
  if (at == 0 || nanos(now) - at > std::chrono::nanoseconds(stale_after).count()) {
    return std::nullopt;
  }
  EngineReading reading;
  reading.running = engine_running_.load(std::memory_order_relaxed);
  reading.waiting = engine_waiting_.load(std::memory_order_relaxed);
  const double kv = engine_kv_.load(std::memory_order_relaxed);
  if (kv >= 0) reading.kv_cache_usage = kv;
  return reading;
}

void EndpointState::report_fleet_in_flight(unsigned count, TimePoint now) {
  fleet_in_flight_.store(count, std::memory_order_relaxed);
  fleet_at_ns_.store(nanos(now), std::memory_order_relaxed);
}

std::optional<unsigned> EndpointState::fleet_in_flight(TimePoint now) const {
  const std::int64_t at = fleet_at_ns_.load(std::memory_order_relaxed);
  if (at == 0 || nanos(now) - at > std::chrono::nanoseconds(kFleetFresh).count()) {
    return std::nullopt;
  }
  return fleet_in_flight_.load(std::memory_order_relaxed);
}

LiveState::LiveState(const config::Config& config)
    : retry_budget_(std::make_shared<RetryBudget>(config.retry_budget)),
      output_average_(std::make_unique<std::atomic<double>[]>(config.routes.size())) {
  for (const config::Endpoint& endpoint : config.endpoints) {
    endpoint_names_.push_back(endpoint.name);
    endpoints_.push_back(std::make_shared<EndpointState>(endpoint));
  }
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    route_names_.push_back(config.routes[i].name);
    output_average_[i] = kSeedOutputTokens;
  }
}

LiveState::LiveState(const config::Config& config, const LiveState& previous) : LiveState(config) {
  retry_budget_ = previous.retry_budget_;
  retry_budget_->set_policy(config.retry_budget);
  const auto find = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) - names.begin();
  };
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    const auto old = static_cast<std::size_t>(find(previous.endpoint_names_, endpoint_names_[i]));
    if (old == previous.endpoints_.size()) continue;
    endpoints_[i] = previous.endpoints_[old];
    endpoints_[i]->retune(config.endpoints[i]);
  }
  for (std::size_t i = 0; i < route_names_.size(); ++i) {
    const auto old = static_cast<std::size_t>(find(previous.route_names_, route_names_[i]));
    if (old == previous.route_names_.size()) continue;
    output_average_[i] = previous.output_average_[old].load(std::memory_order_relaxed);
  }
}

double LiveState::expected_output_tokens(std::size_t route) const {
  return output_average_[route].load(std::memory_order_relaxed);
}

void LiveState::observe_output_tokens(std::size_t route, std::uint64_t tokens) {
  const double current = output_average_[route].load(std::memory_order_relaxed);
  output_average_[route].store(current + kOutputAverageWeight * (double(tokens) - current),
                               std::memory_order_relaxed);
}

}  // namespace fulcrum::router
