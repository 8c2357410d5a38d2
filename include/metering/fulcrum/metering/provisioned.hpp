#pragma once
// The economics of provisioned endpoints: how much of the capacity traffic used over the
// last minute and hour, what the unused capacity cost, and each request's share.
//
// Capacity is measured on one of two bases, whichever the config states (tokens first):
//  - tokens: weighted tokens served (output + input × input_token_weight) against
//    capacity.output_tokens_per_second;
//  - concurrency: request-seconds in flight against capacity.max_concurrency.
// A request's amortized cost is the capacity it used at the capacity's price (hourly_usd
// for a full hour of it). So over any span, the amortized costs plus the idle cost equal
// hourly_usd × the span, exactly once the requests in it have finished.
#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/core/usage.hpp"
#include "fulcrum/metering/sliding_window.hpp"

namespace fulcrum::metering {

enum class CapacityBasis { none, tokens, concurrency };
CapacityBasis capacity_basis(const config::Endpoint& endpoint);

// Output tokens plus input tokens at the endpoint's input_token_weight.
double weighted_tokens(const config::Endpoint& endpoint, const core::Usage& usage);

// The request's share of a provisioned endpoint's hourly cost: its weighted tokens (or, on
// the concurrency basis, its seconds in flight) at the price of one unit of capacity. Zero
// for serverless endpoints and provisioned ones that state no capacity.
core::Money amortized_cost(const config::Endpoint& endpoint, const core::Usage& usage,
                           std::chrono::duration<double> in_flight);

class ProvisionedMeter {
 public:
  using TimePoint = core::Clock::time_point;
  enum Window { minute, hour };
  static constexpr std::array<const char*, 2> kWindowNames{"1m", "1h"};

  struct WindowReading {
    double tokens = 0;                // input + output tokens served
    double weighted_tokens = 0;       // against output_tokens_per_second
    double busy_request_seconds = 0;  // against max_concurrency
    double seconds = 0;               // the window's length, or the meter's age if shorter
  };
  struct Reading {
    std::array<WindowReading, 2> windows;
    core::Money capacity_cost;  // hourly_usd × time since the meter started
    core::Money amortized;      // the shares of the requests that finished
    core::Money idle;           // capacity_cost − amortized, never decreasing
  };

  explicit ProvisionedMeter(TimePoint now);

  // A request started or stopped occupying the endpoint.
  void started(TimePoint now);
  void stopped(TimePoint now);
  // A request finished with this usage and amortized cost.
  void served(TimePoint now, const config::Endpoint& endpoint, const core::Usage& usage,
              core::Money amortized);
  // Accrues the capacity's cost at the endpoint's hourly price up to `now`. Called at each
  // reading, and before a reload changes the price.
  void accrue(const config::Endpoint& endpoint, TimePoint now);
  Reading read(const config::Endpoint& endpoint, TimePoint now);

 private:
  void advance_busy(TimePoint now);  // holds mutex_

  std::mutex mutex_;  // a few additions at the start and end of each request
  TimePoint born_;
  unsigned in_flight_ = 0;
  TimePoint last_change_;
  std::array<SlidingWindow, 2> busy_;
  std::array<SlidingWindow, 2> tokens_;
  std::array<SlidingWindow, 2> weighted_;
  TimePoint accrued_until_;
  core::Money capacity_cost_;
  core::Money amortized_;
  core::Money idle_;
};

// Counts a request as occupying a provisioned endpoint for the guard's lifetime (the
// concurrency basis); does nothing for a null meter (serverless).
class Occupancy {
 public:
  explicit Occupancy(ProvisionedMeter* meter) : meter_(meter) {
    if (meter_) meter_->started(core::Clock::now());
  }
  ~Occupancy() {
    if (meter_) meter_->stopped(core::Clock::now());
  }
  Occupancy(const Occupancy&) = delete;
  Occupancy& operator=(const Occupancy&) = delete;

 private:
  ProvisionedMeter* meter_;
};

// The meters of a config's provisioned endpoints, by endpoint index (null for serverless).
// A reloaded config keeps the meter of each provisioned endpoint that still exists by name.
class Economics {
 public:
  Economics(const config::Config& config, core::Clock::time_point now);
  Economics(const config::Config& config, const Economics& previous, core::Clock::time_point now);

  ProvisionedMeter* meter(std::size_t endpoint) const { return meters_[endpoint].get(); }

 private:
  std::vector<std::string> names_;
  std::vector<std::shared_ptr<ProvisionedMeter>> meters_;
};

}  // namespace fulcrum::metering
