#include "fulcrum/metering/provisioned.hpp"

#include <algorithm>

namespace fulcrum::metering {
namespace {

constexpr double kSecondsPerHour = 3600;

SlidingWindow window(ProvisionedMeter::Window w) {
  return w == ProvisionedMeter::minute ? SlidingWindow(std::chrono::seconds(1), 60)
                                       : SlidingWindow(std::chrono::minutes(1), 60);
}

std::array<SlidingWindow, 2> windows() {
  return {window(ProvisionedMeter::minute), window(ProvisionedMeter::hour)};
}

}  // namespace

CapacityBasis capacity_basis(const config::Endpoint& endpoint) {
  if (endpoint.kind != config::EndpointKind::provisioned) return CapacityBasis::none;
  if (endpoint.capacity.output_tokens_per_second > 0) return CapacityBasis::tokens;
  if (endpoint.capacity.max_concurrency > 0) return CapacityBasis::concurrency;
  return CapacityBasis::none;
}

double weighted_tokens(const config::Endpoint& endpoint, const core::Usage& usage) {
  return static_cast<double>(usage.output) +
         static_cast<double>(usage.input) * endpoint.capacity.input_token_weight;
}

core::Money amortized_cost(const config::Endpoint& endpoint, const core::Usage& usage,
                           std::chrono::duration<double> in_flight) {
  switch (capacity_basis(endpoint)) {
    case CapacityBasis::tokens: {
      const double per_hour = endpoint.capacity.output_tokens_per_second * kSecondsPerHour;
      return core::Money::from_usd(endpoint.hourly_usd * weighted_tokens(endpoint, usage) /
                                   per_hour);
    }
    case CapacityBasis::concurrency: {
      return core::Money::from_usd(endpoint.hourly_usd * in_flight.count() /
                                   (endpoint.capacity.max_concurrency * kSecondsPerHour));
    }
    case CapacityBasis::none:
      break;
  }
  return {};
}

ProvisionedMeter::ProvisionedMeter(TimePoint now)
    : born_(now),
      last_change_(now),
      busy_(windows()),
      tokens_(windows()),
      weighted_(windows()),
      accrued_until_(now) {}

void ProvisionedMeter::advance_busy(TimePoint now) {
  if (now <= last_change_) return;
  for (SlidingWindow& w : busy_) w.add_interval(last_change_, now, in_flight_);
  last_change_ = now;
}

void ProvisionedMeter::started(TimePoint now) {
  const std::lock_guard lock(mutex_);
  advance_busy(now);
  ++in_flight_;
}

void ProvisionedMeter::stopped(TimePoint now) {
  const std::lock_guard lock(mutex_);
  advance_busy(now);
  if (in_flight_ > 0) --in_flight_;
}

void ProvisionedMeter::served(TimePoint now, const config::Endpoint& endpoint,
                              const core::Usage& usage, core::Money amortized) {
  const double weighted = weighted_tokens(endpoint, usage);
  const auto tokens = static_cast<double>(usage.input + usage.output);
  const std::lock_guard lock(mutex_);
  for (SlidingWindow& w : tokens_) w.add(now, tokens);
  for (SlidingWindow& w : weighted_) w.add(now, weighted);
  amortized_ += amortized;
}

void ProvisionedMeter::accrue(const config::Endpoint& endpoint, TimePoint now) {
  const std::lock_guard lock(mutex_);
  if (now <= accrued_until_) return;
  const double hours =
      std::chrono::duration<double>(now - accrued_until_).count() / kSecondsPerHour;
  capacity_cost_ += core::Money::from_usd(endpoint.hourly_usd * hours);
  accrued_until_ = now;
}

ProvisionedMeter::Reading ProvisionedMeter::read(const config::Endpoint& endpoint, TimePoint now) {
  accrue(endpoint, now);
  const std::lock_guard lock(mutex_);
  advance_busy(now);  // requests still in flight count up to now
  Reading reading;
  const double age = std::chrono::duration<double>(now - born_).count();
  for (std::size_t w = 0; w < reading.windows.size(); ++w) {
    WindowReading& r = reading.windows[w];
    r.tokens = tokens_[w].sum(now);
    r.weighted_tokens = weighted_[w].sum(now);
    r.busy_request_seconds = busy_[w].sum(now);
    r.seconds = std::min(age, std::chrono::duration<double>(busy_[w].length()).count());
  }
  // Never decreasing (it is a counter): while long requests are in flight their shares are
  // not known yet, and the idle cost waits for them to catch up rather than going back.
  idle_ = std::max(idle_, core::Money{capacity_cost_.nano_usd - amortized_.nano_usd});
  reading.capacity_cost = capacity_cost_;
  reading.amortized = amortized_;
  reading.idle = idle_;
  return reading;
}

Economics::Economics(const config::Config& config, core::Clock::time_point now) {
  for (const config::Endpoint& endpoint : config.endpoints) {
    names_.push_back(endpoint.name);
    meters_.push_back(endpoint.kind == config::EndpointKind::provisioned
                          ? std::make_shared<ProvisionedMeter>(now)
                          : nullptr);
  }
}

Economics::Economics(const config::Config& config, const Economics& previous,
                     core::Clock::time_point now)
    : Economics(config, now) {
  for (std::size_t i = 0; i < meters_.size(); ++i) {
    if (!meters_[i]) continue;
    const auto old = std::find(previous.names_.begin(), previous.names_.end(), names_[i]);
    if (old == previous.names_.end()) continue;
    const auto& kept = previous.meters_[old - previous.names_.begin()];
    if (kept) meters_[i] = kept;
  }
}

}  // namespace fulcrum::metering
