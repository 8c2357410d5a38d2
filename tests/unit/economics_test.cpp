// Provisioned economics as units, on an injected clock: sliding windows, utilization on
// both bases, amortized and idle cost, and their sum.
#include <gtest/gtest.h>

#include "fulcrum/config/loader.hpp"
#include "fulcrum/metering/provisioned.hpp"
#include "fulcrum/metering/sliding_window.hpp"

namespace fulcrum {
namespace {

using namespace std::chrono_literals;
using metering::ProvisionedMeter;
using metering::SlidingWindow;
using TimePoint = core::Clock::time_point;

const TimePoint t0 = TimePoint{} + 1000h;  // bucket-aligned: whole hours since the epoch

TEST(SlidingWindow, SumsTheLastBucketsAndForgetsOlderOnes) {
  SlidingWindow window(1s, 60);
  window.add(t0, 5);
  window.add(t0 + 30s, 7);
  EXPECT_EQ(window.sum(t0 + 30s), 12);
  EXPECT_EQ(window.sum(t0 + 59s), 12);
  EXPECT_EQ(window.sum(t0 + 60s), 7);  // the t0 bucket has left the last minute
  EXPECT_EQ(window.sum(t0 + 90s), 0);
}

TEST(SlidingWindow, SpreadsAnIntervalOverTheBucketsItCovers) {
  SlidingWindow window(1s, 60);
  window.add_interval(t0 + 500ms, t0 + 3500ms, 2);  // 3 s at 2 per second
  EXPECT_DOUBLE_EQ(window.sum(t0 + 3500ms), 6);
  EXPECT_DOUBLE_EQ(window.sum(t0 + 60s), 5);  // the half second in bucket t0 has gone
  // An interval longer than the window keeps only the window's part.
  window.add_interval(t0 + 100s, t0 + 1000s, 1);
  EXPECT_DOUBLE_EQ(window.sum(t0 + 999s), 60);
}

config::Endpoint provisioned(const std::string& capacity) {
  auto config = config::load_string(R"(version: 1
endpoints:
  gpu: {kind: provisioned, base_url: "http://127.0.0.1:1/v1", hourly_usd: 3.6,
        capacity: )" + capacity + R"(}
models:
  m: {targets: [gpu/m]}
ledger: {enabled: false}
)",
                                    "test.yaml");
  EXPECT_TRUE(config.has_value());
  return config->endpoints.at(0);
}

TEST(Economics, TheTokensBasisWeighsInputTokens) {
  // 3.6 $/h at 100 weighted tokens/s: a weighted token costs 0.00001 $ at full use.
  const config::Endpoint gpu =
      provisioned("{output_tokens_per_second: 100, input_token_weight: 0.5, max_concurrency: 2}");
  EXPECT_EQ(metering::capacity_basis(gpu), metering::CapacityBasis::tokens);
  const core::Usage usage{.input = 100, .cached_input = 0, .output = 200};
  EXPECT_DOUBLE_EQ(metering::weighted_tokens(gpu, usage), 250);
  EXPECT_EQ(metering::amortized_cost(gpu, usage, 10s), core::Money::from_usd(0.0025));
}

TEST(Economics, TheConcurrencyBasisChargesSecondsInFlight) {
  // 3.6 $/h over 2 slots: a slot-second costs 0.0005 $.
  const config::Endpoint gpu = provisioned("{max_concurrency: 2}");
  EXPECT_EQ(metering::capacity_basis(gpu), metering::CapacityBasis::concurrency);
  EXPECT_EQ(metering::amortized_cost(gpu, core::Usage{.input = 5, .output = 5}, 10s),
            core::Money::from_usd(0.005));
}

TEST(Economics, UtilizationIdleCostAndAmortizedCostsAddUp) {
  const config::Endpoint gpu =
      provisioned("{output_tokens_per_second: 100, input_token_weight: 0.5, max_concurrency: 2}");
  ProvisionedMeter meter(t0);
  const core::Usage usage{.input = 100, .cached_input = 0, .output = 200};
  // Two requests of 10 s each, overlapping for 5 s.
  meter.started(t0 + 10s);
  meter.started(t0 + 15s);
  meter.stopped(t0 + 20s);
  meter.served(t0 + 20s, gpu, usage, metering::amortized_cost(gpu, usage, 10s));
  meter.stopped(t0 + 25s);
  meter.served(t0 + 25s, gpu, usage, metering::amortized_cost(gpu, usage, 10s));

  const ProvisionedMeter::Reading r = meter.read(gpu, t0 + 60s);
  const ProvisionedMeter::WindowReading& minute = r.windows[ProvisionedMeter::minute];
  EXPECT_DOUBLE_EQ(minute.seconds, 60);
  EXPECT_DOUBLE_EQ(minute.tokens, 600);
  EXPECT_DOUBLE_EQ(minute.weighted_tokens, 500);            // utilization 500 / (100 × 60)
  EXPECT_DOUBLE_EQ(minute.busy_request_seconds, 20);        // utilization 20 / (2 × 60)
  EXPECT_EQ(r.capacity_cost, core::Money::from_usd(0.06));  // 3.6 $/h × 60 s
  EXPECT_EQ(r.amortized, core::Money::from_usd(0.005));     // 2 × 250 × 0.00001 $
  EXPECT_EQ(r.idle, core::Money::from_usd(0.055));
  EXPECT_EQ(r.amortized.nano_usd + r.idle.nano_usd, r.capacity_cost.nano_usd);

  // The hour window still has them after two minutes; the minute window does not.
  const ProvisionedMeter::Reading later = meter.read(gpu, t0 + 150s);
  EXPECT_DOUBLE_EQ(later.windows[ProvisionedMeter::minute].tokens, 0);
  EXPECT_DOUBLE_EQ(later.windows[ProvisionedMeter::hour].tokens, 600);
  EXPECT_DOUBLE_EQ(later.windows[ProvisionedMeter::hour].seconds, 150);  // the meter's age
  EXPECT_EQ(later.idle, core::Money::from_usd(3.6 * 150 / 3600 - 0.005));
}

TEST(Economics, IdleCostNeverGoesBackWhileLongRequestsAreInFlight) {
  const config::Endpoint gpu = provisioned("{output_tokens_per_second: 100}");
  ProvisionedMeter meter(t0);
  meter.started(t0);
  const core::Money idle_before = meter.read(gpu, t0 + 100s).idle;  // 0.1 $, none served yet
  EXPECT_EQ(idle_before, core::Money::from_usd(0.1));
  // The request used the whole capacity for those 100 s: 10000 tokens, 0.1 $.
  const core::Usage usage{.input = 0, .cached_input = 0, .output = 10000};
  meter.stopped(t0 + 100s);
  meter.served(t0 + 100s, gpu, usage, metering::amortized_cost(gpu, usage, 100s));
  EXPECT_EQ(meter.read(gpu, t0 + 100s).idle, idle_before);  // a counter holds
  // It waits for the accrual to catch up, then the sum is exact again.
  const ProvisionedMeter::Reading r = meter.read(gpu, t0 + 300s);
  EXPECT_EQ(r.idle, core::Money::from_usd(0.2));
  EXPECT_EQ(r.amortized.nano_usd + r.idle.nano_usd, r.capacity_cost.nano_usd);
}

TEST(Economics, AReloadKeepsTheMeterOfAnEndpointThatStillExists) {
  auto before = config::load_string(R"(version: 1
endpoints:
  gpu: {kind: provisioned, base_url: "http://127.0.0.1:1/v1", hourly_usd: 1}
  old: {kind: provisioned, base_url: "http://127.0.0.1:2/v1", hourly_usd: 1}
models:
  m: {targets: [gpu/m, old/m]}
ledger: {enabled: false}
)",
                                    "a.yaml");
  auto after = config::load_string(R"(version: 1
endpoints:
  cloud: {kind: serverless, base_url: "http://127.0.0.1:3/v1", pricing: {m: {input: 1, output: 1}}}
  gpu: {kind: provisioned, base_url: "http://127.0.0.1:1/v1", hourly_usd: 2}
models:
  m: {targets: [gpu/m, cloud/m]}
ledger: {enabled: false}
)",
                                   "b.yaml");
  ASSERT_TRUE(before && after);
  const metering::Economics first(*before, t0);
  const metering::Economics second(*after, first, t0 + 1s);
  EXPECT_EQ(second.meter(0), nullptr);  // serverless
  EXPECT_EQ(second.meter(1), first.meter(0));
}

}  // namespace
}  // namespace fulcrum
