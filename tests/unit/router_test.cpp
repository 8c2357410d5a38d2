// The routing decision as a pure function: configuration from YAML, live state set by hand,
// time injected.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fulcrum/api/prompt_features.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/router/plan.hpp"

namespace fulcrum::router {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPolicy = R"(version: 1
slo_classes:
  realtime: {priority: 100, ttft: 800ms, e2e: 30s, max_queue_wait: 0ms}
  standard: {priority: 50, ttft: 2s, e2e: 60s, max_queue_wait: 0ms}
  batch:    {priority: 10, ttft: 60s, e2e: 600s, max_queue_wait: 30s}
endpoints:
  cloud:
    kind: serverless
    base_url: http://127.0.0.1:1/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
    latency: {ttft: 300ms, per_output_token: 10ms}
  gpu:
    kind: provisioned
    base_url: http://127.0.0.1:2/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 4}
    headroom: {fraction: 0.25, reserved_for: [realtime]}
    latency: {ttft: 100ms, per_output_token: 10ms}
  scale0:
    kind: serverless
    base_url: http://127.0.0.1:3/v1
    pricing: {llama: {input: 0.05, output: 0.08}}
    cold_start: {after_idle: 300s, p50: 8s, p95: 30s}
    latency: {ttft: 200ms, per_output_token: 10ms}
  gpu-q:
    kind: provisioned
    base_url: http://127.0.0.1:4/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 4}
    latency: {ttft: 100ms, per_output_token: 10ms}
models:
  llama-8b: {targets: [cloud/gpt-4o-mini, gpu/llama]}
  llama-q: {targets: [cloud/gpt-4o-mini, gpu-q/llama]}
  cheap: {targets: [scale0/llama, cloud/gpt-4o-mini]}
  mini: {targets: [cloud/gpt-4o-mini]}
  split:
    targets:
      - {endpoint: cloud, model: gpt-4o-mini, weight: 1}
      - {endpoint: scale0, model: llama, weight: 3}
  auto:
    classify: complexity
    tiers: {simple: cheap, medium: llama-8b, complex: mini}
routes:
  - name: night-batch
    match: {model: [llama-8b], time: {tz: Europe/Berlin, between: "22:00-06:00", days: [mon..fri]}}
    slo: batch
  - name: day-batch
    match: {model: [llama-8b], headers: {x-workload: [batch]}}
    slo: batch
    strategy: ordered
  - name: weighted
    match: {model: split}
    strategy: weighted
  - name: fast
    match: {model: cheap, headers: {x-workload: [interactive]}}
    strategy: lowest_latency
  - name: big-prompts
    match: {model: mini, prompt_tokens: {min: 1000}}
    fallback: [cheap]
)";

config::Config load() {
  auto loaded = config::load_string(kPolicy, "policy.yaml");
  if (!loaded) {
    for (const auto& issue : loaded.error()) ADD_FAILURE() << issue.to_string();
  }
  return std::move(*loaded);
}

// Wednesday 2026-11-25 12:00 UTC (13:00 in Berlin).
const core::WallTime kWednesdayNoonUtc = core::WallClock::from_time_t(1795608000);

class RouterTest : public ::testing::Test {
 protected:
  RouteInput input(std::string_view alias, std::optional<std::string_view> slo = std::nullopt) {
    RouteInput in;
    in.alias = config.find_alias(alias);
    EXPECT_NE(in.alias, nullptr) << alias;
    if (slo) in.slo_class = config.find_slo_class(*slo);
    in.prompt.estimated_tokens = 20;
    in.prompt.max_tokens = 50;
    in.now = now;
    in.wall_now = kWednesdayNoonUtc;
    return in;
  }
  const config::Endpoint& lead(const Plan& plan) {
    EXPECT_FALSE(plan.attempts.empty());
    return config.endpoints[plan.attempts.front().endpoint];
  }
  std::size_t endpoint(std::string_view name) {
    for (std::size_t i = 0; i < config.endpoints.size(); ++i) {
      if (config.endpoints[i].name == name) return i;
    }
    ADD_FAILURE() << name;
    return 0;
  }
  void occupy(std::string_view name, unsigned slots) {
    for (unsigned i = 0; i < slots; ++i) ASSERT_TRUE(live.endpoint(endpoint(name)).try_admit(0));
  }

  config::Config config = load();
  LiveState live{config};
  TimePoint now = core::Clock::now();
};

// OpenAI's flex tier: the route's flex_for classes are priced at a target's flex prices, so
// cheapest-meeting-SLO prefers it for them; the other classes see the normal prices.
TEST(RouterFlex, TheFlexClassIsPricedAtTheFlexTierAndOthersAtTheNormalOne) {
  auto loaded = config::load_string(R"(version: 1
endpoints:
  openai:
    kind: serverless
    base_url: http://127.0.0.1:1/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60, flex: {input: 0.075, output: 0.30}}}
  other:
    kind: serverless
    base_url: http://127.0.0.1:2/v1
    pricing: {mini: {input: 0.10, output: 0.40}}
models:
  mini: {targets: [openai/gpt-4o-mini, other/mini]}
routes:
  - {name: bulk, match: {model: [mini]}, flex_for: [batch]}
)",
                                    "flex.yaml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error()[0].to_string();
  const config::Config& config = *loaded;
  LiveState live{config};
  RouteInput in;
  in.alias = config.find_alias("mini");
  in.prompt.estimated_tokens = 20;
  in.prompt.max_tokens = 50;
  in.now = core::Clock::now();
  in.wall_now = kWednesdayNoonUtc;

  // standard: openai 20 x 0.15 + 50 x 0.60 = 33,000 nano-USD; other 20 x 0.10 + 50 x 0.40 =
  // 22,000: other leads, nothing at flex.
  Plan plan = choose(in, config, live);
  ASSERT_EQ(plan.attempts.size(), 2u);
  EXPECT_EQ(config.endpoints[plan.attempts[0].endpoint].name, "other");
  EXPECT_EQ(plan.attempts[0].estimated_cost.nano_usd, 22'000);
  EXPECT_EQ(plan.attempts[1].estimated_cost.nano_usd, 33'000);
  EXPECT_FALSE(plan.attempts[0].flex);
  EXPECT_FALSE(plan.attempts[1].flex);

  // batch: openai at flex, 20 x 0.075 + 50 x 0.30 = 16,500, leads; other has no flex price.
  in.slo_class = config.find_slo_class("batch");
  plan = choose(in, config, live);
  ASSERT_EQ(plan.attempts.size(), 2u);
  EXPECT_EQ(config.endpoints[plan.attempts[0].endpoint].name, "openai");
  EXPECT_TRUE(plan.attempts[0].flex);
  EXPECT_EQ(plan.attempts[0].estimated_cost.nano_usd, 16'500);
  EXPECT_FALSE(plan.attempts[1].flex);
  EXPECT_EQ(plan.attempts[1].estimated_cost.nano_usd, 22'000);
  EXPECT_EQ(plan.reason, "cheapest");

  // realtime is not in flex_for: normal prices.
  in.slo_class = config.find_slo_class("realtime");
  plan = choose(in, config, live);
  ASSERT_FALSE(plan.attempts.empty());
  EXPECT_EQ(config.endpoints[plan.attempts[0].endpoint].name, "other");
  EXPECT_FALSE(plan.attempts[0].flex || plan.attempts[1].flex);
}

TEST_F(RouterTest, ProvisionedWithRoomWinsAtZeroMarginalCostEvenWhenListedSecond) {
  const Plan plan = choose(input("llama-8b"), config, live);
  EXPECT_EQ(lead(plan).name, "gpu");
  EXPECT_EQ(plan.reason, "cheapest");
  EXPECT_EQ(plan.attempts.front().estimated_cost.nano_usd, 0);
  ASSERT_EQ(plan.attempts.size(), 2u);
  EXPECT_EQ(config.endpoints[plan.attempts[1].endpoint].name, "cloud");
  // 20 input tokens at 0.15 and 50 expected output tokens at 0.60 per million.
  EXPECT_EQ(plan.attempts[1].estimated_cost.nano_usd, 20 * 150 + 50 * 600);
  EXPECT_EQ(config.routes[plan.route].name, "default");
  EXPECT_EQ(config.slo_classes[plan.slo_class].name, "standard");
}

// The largest request a client may describe (a prompt of 10^6 tokens, max_tokens and n at
// their bounds) gives a finite, positive estimate: no float-to-int overflow (UBSan in CI
// checks float-cast-overflow) and no wrapped Money.
TEST_F(RouterTest, HostileSizesGiveABoundedEstimateNotOverflow) {
  RouteInput in = input("mini");
  in.prompt.estimated_tokens = 1'000'000;
  in.prompt.max_tokens = 2147483647;
  in.prompt.choices = 2147483647;
  const Plan plan = choose(in, config, live);
  ASSERT_FALSE(plan.attempts.empty());
  const core::Money estimate = plan.attempts.front().estimated_cost;
  // (2^31 - 1)^2 output tokens at 0.60 per million is $2.8e12, beyond Money's $9.2e9: the
  // estimate saturates at the largest amount (and any hard budget refuses it).
  EXPECT_EQ(estimate.nano_usd, INT64_MAX);
  in.prompt.choices = 1;
  // 10^6 input tokens at 0.15 plus 2^31 - 1 output tokens at 0.60 per million.
  EXPECT_EQ(choose(in, config, live).attempts.front().estimated_cost.nano_usd,
            1'000'000 * 150 + 2147483647LL * 600);
  // n multiplies the output a request pays for.
  RouteInput three = input("mini");
  three.prompt.choices = 3;
  EXPECT_EQ(choose(three, config, live).attempts.front().estimated_cost.nano_usd,
            20 * 150 + 3 * 50 * 600);
}

TEST_F(RouterTest, SaturatedProvisionedSpillsToServerlessAndStaysAsLastResort) {
  occupy("gpu", 4);
  const Plan plan = choose(input("llama-8b", "realtime"), config, live);
  EXPECT_EQ(lead(plan).name, "cloud");
  EXPECT_EQ(plan.reason, "spill:capacity");
  ASSERT_TRUE(plan.spilled_from);
  EXPECT_EQ(config.endpoints[*plan.spilled_from].name, "gpu");
  EXPECT_EQ(plan.spill_reason, "capacity");
  ASSERT_EQ(plan.attempts.size(), 2u);
  EXPECT_TRUE(plan.attempts[1].over_capacity);
}

TEST_F(RouterTest, HeadroomIsKeptForTheClassesItIsReservedFor) {
  occupy("gpu", 3);  // 75% of 4: the general share is used up
  const Plan standard = choose(input("llama-8b"), config, live);
  EXPECT_EQ(lead(standard).name, "cloud");
  EXPECT_EQ(standard.reason, "spill:capacity");

  const Plan realtime = choose(input("llama-8b", "realtime"), config, live);
  EXPECT_EQ(lead(realtime).name, "gpu");
  EXPECT_EQ(realtime.reason, "headroom");
  EXPECT_EQ(realtime.attempts.front().admit_limit, 4u);
}

TEST_F(RouterTest, TheLoadAnUpstreamReportsCountsUntilItGoesStale) {
  EndpointState& gpu = live.endpoint(endpoint("gpu"));
  // 75% by the upstream's own account (its other clients), nothing in flight here: the
  // general share is used up, the headroom is realtime's.
  gpu.report_utilization(0.75, now);
  EXPECT_EQ(lead(choose(input("llama-8b"), config, live)).name, "cloud");
  const Plan realtime = choose(input("llama-8b", "realtime"), config, live);
  EXPECT_EQ(lead(realtime).name, "gpu");
  EXPECT_EQ(realtime.reason, "headroom");
  // Of the 4 slots the report leaves 1: that is all this gateway may admit, however many
  // requests arrive at once.
  EXPECT_EQ(realtime.attempts.front().admit_limit, 1u);
  // Full by its account: not even realtime is sent.
  gpu.report_utilization(1.0, now);
  EXPECT_EQ(choose(input("llama-8b", "realtime"), config, live).reason, "spill:capacity");
  // A report is believed for kReportFresh; then the gateway's own count decides again.
  now += EndpointState::kReportFresh + std::chrono::milliseconds(1);
  EXPECT_EQ(lead(choose(input("llama-8b"), config, live)).name, "gpu");
  EXPECT_FALSE(gpu.reported_utilization(now));
}

TEST_F(RouterTest, TheFleetsSlotCountFromSharedStateCountsWhileFresh) {
  EndpointState& gpu = live.endpoint(endpoint("gpu"));
  // Other replicas hold 3 of the 4 slots (Redis's count): the general share is used up.
  gpu.report_fleet_in_flight(3, now);
  EXPECT_EQ(lead(choose(input("llama-8b"), config, live)).name, "cloud");
  const Plan realtime = choose(input("llama-8b", "realtime"), config, live);
  EXPECT_EQ(lead(realtime).name, "gpu");
  EXPECT_EQ(realtime.attempts.front().admit_limit, 1u);
  // The lease in Redis is taken against the class's share of the whole capacity.
  EXPECT_EQ(realtime.attempts.front().class_limit, 4u);
  now += EndpointState::kFleetFresh + std::chrono::milliseconds(1);
  EXPECT_EQ(lead(choose(input("llama-8b"), config, live)).name, "gpu");
}

TEST_F(RouterTest, AnEnginesOwnLoadCountsEveryClientAndItsQueueDelaysTheFirstToken) {
  const std::size_t index = endpoint("gpu-q");
  config.endpoints[index].load = config::EngineLoadSource{};  // stale_after 2 s
  EndpointState& gpu = live.endpoint(index);
  // Others run 2 of its 4: this gateway may admit 2.
  gpu.report_engine_load({.running = 2, .waiting = 0, .kv_cache_usage = 0.4}, now);
  EXPECT_EQ(choose(input("llama-q", "batch"), config, live).attempts.front().admit_limit, 2u);
  // 2 more queue at the engine: full, and batch (30 s of queueing allowed) waits for 3 slots
  // to free (the 2 queued go first), one every (0.1 + 256 × 0.01) / 4 s (4 generate).
  gpu.report_engine_load({.running = 4, .waiting = 2, .kv_cache_usage = 0.9}, now);
  const Plan batch = choose(input("llama-q", "batch"), config, live);
  EXPECT_EQ(lead(batch).name, "gpu-q");
  EXPECT_NEAR(batch.attempts.front().predicted_ttft, 0.1 + 3 * (0.1 + 256 * 0.01) / 4, 1e-6);
  EXPECT_EQ(lead(choose(input("llama-q"), config, live)).name, "cloud");  // standard: no queueing
  // An engine whose own batch is smaller than max_concurrency queues with slots still free
  // here: the queue it reports delays the first token all the same.
  gpu.report_engine_load({.running = 1, .waiting = 1, .kv_cache_usage = 0.5}, now);
  const Plan queued = choose(input("llama-q", "batch"), config, live);
  EXPECT_EQ(lead(queued).name, "gpu-q");
  EXPECT_NEAR(queued.attempts.front().predicted_ttft, 0.1 + 1 * (0.1 + 256 * 0.01) / 4, 1e-6);
  // Out of KV cache: nothing new goes there, queue or not.
  gpu.report_engine_load({.running = 1, .waiting = 0, .kv_cache_usage = 0.97}, now);
  EXPECT_EQ(lead(choose(input("llama-q", "batch"), config, live)).name, "cloud");
  // A reading older than stale_after is not believed.
  now += std::chrono::seconds(2) + std::chrono::milliseconds(1);
  EXPECT_FALSE(gpu.engine_load(now, std::chrono::seconds(2)));
  EXPECT_EQ(choose(input("llama-q", "batch"), config, live).attempts.front().admit_limit, 4u);
}

TEST_F(RouterTest, AFullEndpointMayQueueWithinTheClassesMaxQueueWait) {
  occupy("gpu-q", 4);
  // batch allows 30 s of queueing: one slot frees every (0.1 + 256 × 0.01) / 4 s.
  const Plan batch = choose(input("llama-q", "batch"), config, live);
  EXPECT_EQ(lead(batch).name, "gpu-q");
  EXPECT_NEAR(batch.attempts.front().predicted_ttft, 0.1 + (0.1 + 256 * 0.01) / 4, 1e-6);
  // standard allows none (in this config): it spills.
  EXPECT_EQ(lead(choose(input("llama-q"), config, live)).name, "cloud");
  // Batch may not take what headroom keeps for realtime, but it may wait for a slot of its
  // own share: one of the 3 requests there ends every (0.1 + 256 × 0.01) / 3 s.
  occupy("gpu", 3);
  const Plan waits = choose(input("llama-8b", "batch"), config, live);
  EXPECT_EQ(lead(waits).name, "gpu");
  EXPECT_EQ(waits.reason, "queued");
  EXPECT_EQ(waits.attempts.front().admit_limit, 3u);  // never the reserved fourth
  EXPECT_NEAR(waits.attempts.front().predicted_ttft, 0.1 + (0.1 + 256 * 0.01) / 3, 1e-6);
  EXPECT_DOUBLE_EQ(waits.attempts.front().max_wait, 30);  // max_queue_wait, inside the target
}

// Waiting is planned from what slots are actually held for (learnt), counts those already
// waiting, and stops where the class's target would break: then the request spills at once.
TEST_F(RouterTest, AWaitIsPlannedFromTheLearntHoldTimeAndOnlyWhileItKeepsTheTarget) {
  config.slo_classes[config.find_slo_class("standard").value()].max_queue_wait = 5s;
  EndpointState& gpu = live.endpoint(endpoint("gpu-q"));
  occupy("gpu-q", 4);
  for (int i = 0; i < 40; ++i) gpu.slot_hold.observe(1.0);
  // standard: ttft 2 s, margin 0.2 s, prefill 0.1 s: up to 1.7 s of waiting, and 1.5 s so
  // that the cloud's 0.3 s to first token still fits if the wait runs out. One release in
  // 1.0 / 4 s.
  Plan plan = choose(input("llama-q"), config, live);
  EXPECT_EQ(lead(plan).name, "gpu-q");
  EXPECT_NEAR(plan.attempts.front().max_wait, 1.5, 1e-9);

  EXPECT_NEAR(plan.attempts.front().predicted_ttft, 0.1 + 0.25, 1e-9);
  // Batch requests waiting there go after a standard one (their deadlines are later).
  const std::size_t batch = config.find_slo_class("batch").value();
  const std::size_t standard = config.find_slo_class("standard").value();
  for (int i = 0; i < 6; ++i) gpu.join_waiting(batch);
  EXPECT_NEAR(choose(input("llama-q"), config, live).attempts.front().predicted_ttft, 0.1 + 0.25,
              1e-9);
  // Six standard ones already wait: the seventh release (1.75 s) comes too late.
  for (int i = 0; i < 6; ++i) gpu.join_waiting(standard);
  plan = choose(input("llama-q"), config, live);
  EXPECT_EQ(lead(plan).name, "cloud");
  EXPECT_EQ(plan.reason, "spill:capacity");
  // Batch has time: it waits behind all twelve.
  plan = choose(input("llama-q", "batch"), config, live);
  EXPECT_EQ(lead(plan).name, "gpu-q");
  EXPECT_NEAR(plan.attempts.front().predicted_ttft, 0.1 + 13 * 0.25, 1e-9);
  // A full queue (capacity.max_waiting) takes no one more.
  config.endpoints[endpoint("gpu-q")].capacity.max_waiting = 12;
  EXPECT_EQ(lead(choose(input("llama-q", "batch"), config, live)).name, "cloud");
}

// A slot that frees while requests wait is theirs: an arrival that may wait does not take it
// past a waiter with an earlier deadline, it queues behind. One that may not wait has nobody
// ahead of it.
TEST_F(RouterTest, AFreeSlotGoesToTheWaitersAheadBeforeANewArrival) {
  config.slo_classes[config.find_slo_class("standard").value()].max_queue_wait = 5s;
  EndpointState& gpu = live.endpoint(endpoint("gpu-q"));
  occupy("gpu-q", 3);
  for (int i = 0; i < 40; ++i) gpu.slot_hold.observe(1.0);
  gpu.join_waiting(config.find_slo_class("standard").value());
  // Standard (horizon 1.8 s) and batch (30 s) go after the standard waiter: one release, in
  // 1.0 / 3 s (3 generate).
  for (const char* slo : {"standard", "batch"}) {
    const Plan plan = choose(input("llama-q", slo), config, live);
    EXPECT_EQ(lead(plan).name, "gpu-q") << slo;
    EXPECT_EQ(plan.reason, "queued") << slo;
    EXPECT_NEAR(plan.attempts.front().predicted_ttft, 0.1 + 1.0 / 3, 1e-9) << slo;
  }
  // Realtime may not wait: the free slot is its to take.
  const Plan realtime = choose(input("llama-q", "realtime"), config, live);
  EXPECT_EQ(lead(realtime).name, "gpu-q");
  EXPECT_EQ(realtime.reason, "cheapest");
  EXPECT_EQ(realtime.attempts.front().max_wait, 0);
}

// A wait that runs out spills, and the spill target's own time to first token comes after it:
// the wait ends in time for that to fit the target, or the request does not wait at all.
TEST_F(RouterTest, AWaitEndsInTimeForTheSpillTargetToAnswerWithinTheTarget) {
  config.slo_classes[config.find_slo_class("standard").value()].max_queue_wait = 5s;
  occupy("gpu-q", 4);
  for (int i = 0; i < 40; ++i) live.endpoint(endpoint("gpu-q")).slot_hold.observe(1.0);
  // Up to 1.8 s to the first token (2 s less the margin): the cloud answers in 1.2 s, so the
  // wait may take 0.6 s.
  live.endpoint(endpoint("cloud")).ttft.observe(1.2, now);
  Plan plan = choose(input("llama-q"), config, live);
  EXPECT_EQ(lead(plan).name, "gpu-q");
  EXPECT_EQ(plan.reason, "queued");
  EXPECT_NEAR(plan.attempts.front().max_wait, 0.6, 1e-9);
  // At 1.6 s, 0.2 s is left, less than the 0.25 s the wait would take: the GPU is full for the
  // request, which spills (the GPU a last resort, without limits).
  live.endpoint(endpoint("cloud")).ttft.observe(1.6, now);
  plan = choose(input("llama-q"), config, live);
  EXPECT_EQ(lead(plan).name, "cloud");
  EXPECT_EQ(plan.reason, "spill:capacity");
  EXPECT_EQ(plan.attempts.back().max_wait, 0);
  EXPECT_TRUE(plan.attempts.back().over_capacity);
  EXPECT_EQ(plan.attempts.back().class_limit, 0u);
  // At 2.5 s the cloud would miss the target whatever the wait: spilling would not help, and
  // the wait keeps its whole 1.7 s.
  live.endpoint(endpoint("cloud")).ttft.observe(2.5, now);
  plan = choose(input("llama-q"), config, live);
  EXPECT_EQ(lead(plan).name, "gpu-q");
  EXPECT_NEAR(plan.attempts.front().max_wait, 1.7, 1e-9);
  // Batch has a minute: its wait stays max_queue_wait.
  EXPECT_EQ(choose(input("llama-q", "batch"), config, live).attempts.front().max_wait, 30);
}

TEST_F(RouterTest, ProvisionedWhosePredictedTtftBreaksTheSloLosesToFasterServerless) {
  live.endpoint(endpoint("gpu")).ttft.observe(1.5, now);
  const Plan realtime = choose(input("llama-8b", "realtime"), config, live);
  EXPECT_EQ(lead(realtime).name, "cloud");
  EXPECT_EQ(realtime.reason, "spill:slo");
  EXPECT_EQ(realtime.spill_reason, "slo");
  // 1.5 s is within the standard class's 2 s: provisioned still wins there.
  EXPECT_EQ(lead(choose(input("llama-8b"), config, live)).name, "gpu");
}

TEST_F(RouterTest, WhenNothingMeetsTheSloTheFastestLeads) {
  live.endpoint(endpoint("gpu")).ttft.observe(5, now);
  live.endpoint(endpoint("cloud")).ttft.observe(3, now);
  const Plan plan = choose(input("llama-8b", "realtime"), config, live);
  EXPECT_EQ(lead(plan).name, "cloud");
  EXPECT_EQ(plan.reason, "slo-unmet");
}

TEST_F(RouterTest, LatencyEstimatesFollowPeaksAtOnceAndDecayBackToTheirSeed) {
  LatencyEstimate estimate(0.1);
  estimate.observe(2.0, now);
  EXPECT_DOUBLE_EQ(estimate.predict(now), 2.0);
  estimate.observe(0.1, now + 1s);
  EXPECT_GT(estimate.predict(now + 1s), 1.0);  // a single fast sample does not erase a peak
  EXPECT_LT(estimate.predict(now + 10min), 0.11);
}

TEST_F(RouterTest, ColdScaleToZeroEndpointIsAvoidedForRealtimeWhileAWarmOneExists) {
  const Plan cold = choose(input("cheap", "realtime"), config, live);
  EXPECT_EQ(lead(cold).name, "cloud");
  EXPECT_EQ(cold.reason, "cold-avoided");
  EXPECT_EQ(cold.spill_reason, "cold");
  EXPECT_TRUE(cold.attempts.back().cold);

  live.endpoint(endpoint("scale0")).mark_active(now - 10s);
  const Plan warm = choose(input("cheap", "realtime"), config, live);
  EXPECT_EQ(lead(warm).name, "scale0");
  EXPECT_EQ(warm.reason, "cheapest");

  live.endpoint(endpoint("scale0")).mark_active(now - 301s);
  EXPECT_EQ(lead(choose(input("cheap", "realtime"), config, live)).name, "cloud");
  // Batch tolerates a minute's cold start and takes the cheaper endpoint anyway.
  EXPECT_EQ(lead(choose(input("cheap", "batch"), config, live)).name, "scale0");
}

// The reserve is for the reserved classes' requests: one of them in flight stands in it, even
// when it came while the general share had room, so the other classes keep their whole share.
TEST_F(RouterTest, AReservedClassesRequestInFlightStandsInTheReserve) {
  EndpointState& gpu = live.endpoint(endpoint("gpu"));  // 4 slots, 3 for other classes
  ASSERT_TRUE(gpu.try_admit(0, true));                  // realtime
  occupy("gpu", 2);                                     // standard
  const Plan standard = choose(input("llama-8b"), config, live);
  EXPECT_EQ(lead(standard).name, "gpu");
  EXPECT_EQ(standard.attempts.front().admit_limit, 4u);
  occupy("gpu", 1);  // the third standard: the general share is used up
  EXPECT_EQ(lead(choose(input("llama-8b"), config, live)).name, "cloud");
  // A batch request may wait. Its limit is worked out again when it takes a slot: the realtime
  // request in flight may be gone by then, and its slot is then the reserve's again.
  const Plan batch = choose(input("llama-8b", "batch"), config, live);
  EXPECT_EQ(lead(batch).name, "gpu");
  EXPECT_EQ(batch.reason, "queued");
  EXPECT_EQ(batch.attempts.front().admit_limit, 4u);
  EXPECT_EQ(router::admit_limit_now(batch.attempts.front(), gpu), 4u);
  gpu.release(true);  // the realtime request ends: its slot is the reserve again
  EXPECT_EQ(gpu.reserved_in_flight(), 0u);
  EXPECT_EQ(router::admit_limit_now(batch.attempts.front(), gpu), 3u);
  EXPECT_EQ(lead(choose(input("llama-8b"), config, live)).name, "cloud");
  EXPECT_EQ(lead(choose(input("llama-8b", "realtime"), config, live)).name, "gpu");
}

TEST_F(RouterTest, OpenCircuitIsSkippedUntilItsCooldownEnds) {
  CircuitBreaker& breaker = live.endpoint(endpoint("gpu")).breaker;
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(breaker.on_failure(now));
  EXPECT_TRUE(breaker.on_failure(now));  // the fifth consecutive failure opens it
  const Plan plan = choose(input("llama-8b"), config, live);
  EXPECT_EQ(lead(plan).name, "cloud");
  EXPECT_EQ(plan.reason, "spill:circuit-open");
  EXPECT_EQ(plan.attempts.size(), 1u);

  RouteInput later = input("llama-8b");
  later.now = now + 31s;
  EXPECT_EQ(lead(choose(later, config, live)).name, "gpu");  // half-open: a probe may go
  EXPECT_TRUE(breaker.try_acquire(later.now));
  EXPECT_FALSE(breaker.try_acquire(later.now));  // only one probe at a time
  breaker.on_success();
  EXPECT_EQ(breaker.state(later.now), CircuitBreaker::State::closed);
}

// A continued conversation (previous_response_id) may only go where it is stored: the router
// sees that endpoint's targets alone and assesses them as any other, so a pinned request is
// still charged its estimate, admitted against capacity, and not sent into an open circuit.
TEST_F(RouterTest, APinnedRequestSeesOnlyItsEndpointAssessedAsUsual) {
  RouteInput pinned = input("llama-8b");
  pinned.only_endpoint = endpoint("cloud");
  Plan plan = choose(pinned, config, live);  // gpu would win: it is free
  ASSERT_EQ(plan.attempts.size(), 1u);
  EXPECT_EQ(lead(plan).name, "cloud");
  EXPECT_EQ(plan.attempts.front().estimated_cost.nano_usd, 20 * 150 + 50 * 600);

  pinned.only_endpoint = endpoint("gpu");
  occupy("gpu", 3);
  plan = choose(pinned, config, live);
  ASSERT_EQ(plan.attempts.size(), 1u);
  EXPECT_TRUE(plan.attempts.front().over_capacity);  // queued there, never moved elsewhere
  EXPECT_EQ(plan.attempts.front().admit_limit, 0u);
  // No limit when its slot is taken either, whatever the reserve holds then, nor in the fleet.
  EXPECT_EQ(admit_limit_now(plan.attempts.front(), live.endpoint(endpoint("gpu"))), 0u);
  EXPECT_EQ(class_limit_now(plan.attempts.front(), live.endpoint(endpoint("gpu"))), 0u);

  CircuitBreaker& breaker = live.endpoint(endpoint("gpu")).breaker;
  for (int i = 0; i < 5; ++i) breaker.on_failure(now);
  EXPECT_TRUE(choose(pinned, config, live).attempts.empty());

  // A classifying alias is not classified for it: whichever tier reaches the endpoint serves.
  RouteInput classified = input("auto", "batch");
  classified.only_endpoint = endpoint("scale0");
  plan = choose(classified, config, live);
  EXPECT_FALSE(plan.tier);
  ASSERT_EQ(plan.attempts.size(), 1u);
  EXPECT_EQ(lead(plan).name, "scale0");
}

TEST_F(RouterTest, AFailedProbeReopensTheCircuit) {
  CircuitBreaker& breaker = live.endpoint(endpoint("gpu")).breaker;
  for (int i = 0; i < 5; ++i) breaker.on_failure(now);
  ASSERT_TRUE(breaker.try_acquire(now + 31s));
  EXPECT_TRUE(breaker.on_failure(now + 31s));
  EXPECT_EQ(breaker.state(now + 32s), CircuitBreaker::State::open);
}

// A flex attempt that timed out says nothing of the endpoint: its probe goes to the normal-tier
// attempt after it, and neither count opens or closes the circuit.
TEST_F(RouterTest, AnInconclusiveProbeHandsTheProbeOnAndLeavesTheCircuitAsItWas) {
  CircuitBreaker& breaker = live.endpoint(endpoint("gpu")).breaker;
  for (int i = 0; i < 5; ++i) breaker.on_failure(now);
  ASSERT_TRUE(breaker.try_acquire(now + 31s));
  EXPECT_FALSE(breaker.try_acquire(now + 31s));  // one probe at a time
  breaker.on_inconclusive();
  EXPECT_EQ(breaker.state(now + 31s), CircuitBreaker::State::half_open);
  EXPECT_TRUE(breaker.try_acquire(now + 31s));
  breaker.on_success();
  EXPECT_EQ(breaker.state(now + 31s), CircuitBreaker::State::closed);
}

TEST_F(RouterTest, OffPeakWindowInTheRoutesTimeZoneChangesTheRoute) {
  RouteInput in = input("llama-8b");
  in.wall_now = kWednesdayNoonUtc;  // 13:00 in Berlin
  EXPECT_EQ(config.routes[choose(in, config, live).route].name, "default");
  in.wall_now = kWednesdayNoonUtc + 10h;  // 23:00 in Berlin, a Wednesday night
  Plan night = choose(in, config, live);
  EXPECT_EQ(config.routes[night.route].name, "night-batch");
  EXPECT_EQ(config.slo_classes[night.slo_class].name, "batch");
  in.wall_now = kWednesdayNoonUtc + 16h;  // 05:00 Thursday, still Wednesday's window
  EXPECT_EQ(config.routes[choose(in, config, live).route].name, "night-batch");
  in.wall_now = kWednesdayNoonUtc + 24h * 3 + 10h;  // Saturday 23:00: not a weekday window
  EXPECT_EQ(config.routes[choose(in, config, live).route].name, "default");
}

TEST_F(RouterTest, HeaderMatchSelectsARouteAndItsStrategy) {
  std::vector<std::string_view> headers(config.route_headers.size());
  RouteInput in = input("llama-8b");
  in.header_values = headers;
  EXPECT_EQ(config.routes[choose(in, config, live).route].name, "default");
  ASSERT_EQ(config.route_headers, std::vector<std::string>{"x-workload"});
  headers[0] = "batch";
  const Plan plan = choose(in, config, live);
  EXPECT_EQ(config.routes[plan.route].name, "day-batch");
  EXPECT_EQ(plan.reason, "ordered");
  EXPECT_EQ(lead(plan).name, "cloud");  // configured order, whatever it costs
}

TEST_F(RouterTest, LowestLatencyRanksByPredictedTtftForStreamsAndEndToEndOtherwise) {
  std::vector<std::string_view> headers(config.route_headers.size());
  headers[0] = "interactive";
  live.endpoint(endpoint("scale0")).mark_active(now);
  live.endpoint(endpoint("scale0")).per_output_token.observe(0.05, now);  // slow decoding
  RouteInput in = input("cheap");
  in.header_values = headers;
  in.prompt.stream = true;  // scale0's TTFT (200 ms) beats cloud's (300 ms)
  Plan plan = choose(in, config, live);
  EXPECT_EQ(config.routes[plan.route].name, "fast");
  EXPECT_EQ(plan.reason, "fastest");
  EXPECT_EQ(lead(plan).name, "scale0");
  in.prompt.stream = false;  // but 50 tokens at 50 ms lose to 300 ms + 50 × 10 ms
  EXPECT_EQ(lead(choose(in, config, live)).name, "cloud");
}

TEST_F(RouterTest, PromptSizeMatchAddsTheRoutesFallbackAliases) {
  RouteInput in = input("mini");
  EXPECT_EQ(choose(in, config, live).attempts.size(), 1u);
  in.prompt.estimated_tokens = 5000;
  const Plan plan = choose(in, config, live);
  EXPECT_EQ(config.routes[plan.route].name, "big-prompts");
  ASSERT_EQ(plan.attempts.size(), 2u);  // cloud/gpt-4o-mini once, then scale0 from "cheap"
  EXPECT_EQ(config.endpoints[plan.attempts[1].endpoint].name, "scale0");
  EXPECT_EQ(plan.attempts[1].alias,
            static_cast<std::size_t>(config.find_alias("cheap") - config.models.data()));
}

TEST_F(RouterTest, WeightedStrategyFollowsTheWeights) {
  int scale0 = 0;
  constexpr int kDraws = 4000;
  for (int i = 0; i < kDraws; ++i) {
    RouteInput in = input("split");
    in.random = (static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL);
    const Plan plan = choose(in, config, live);
    EXPECT_EQ(plan.reason, "weighted");
    EXPECT_EQ(plan.attempts.size(), 2u);
    if (lead(plan).name == "scale0") ++scale0;
  }
  EXPECT_NEAR(scale0, kDraws * 3 / 4, kDraws / 20);
}

TEST_F(RouterTest, ClassifierSendsSimplePromptsToTheCheapTierAndHardOnesToTheStrongTier) {
  const auto features = [&](const std::string& body) {
    auto parsed = api::parse_request(api::Operation::chat_completions, body);
    EXPECT_TRUE(parsed.has_value());
    return api::prompt_features(*parsed, config.classifier.keywords);
  };
  RouteInput in = input("auto", "batch");
  in.prompt = features(R"({"model":"auto","messages":[{"role":"user","content":"what is 2+2"}]})");
  Plan simple = choose(in, config, live);
  ASSERT_TRUE(simple.tier);
  EXPECT_EQ(config.classifier.tiers[*simple.tier].name, "simple");
  EXPECT_EQ(lead(simple).name, "scale0");

  std::string hard = "Refactor this function step by step and explain why each change helps. ";
  hard += "```cpp\\nint f(int x) { return x * 2; }\\n``` ";
  for (int i = 0; i < 60; ++i) hard += "It must stay thread-safe under heavy contention. ";
  in.prompt = features(R"({"model":"auto","messages":[{"role":"system","content":"You are a )"
                       R"(senior engineer."},{"role":"user","content":")" +
                       hard + R"("}]})");
  EXPECT_GE(in.prompt.code_blocks, 1u);
  EXPECT_GE(in.prompt.keyword_hits, 3u);  // refactor, step by step, explain why
  Plan complex = choose(in, config, live);
  ASSERT_TRUE(complex.tier);
  EXPECT_EQ(config.classifier.tiers[*complex.tier].name, "complex");
  EXPECT_EQ(lead(complex).name, "cloud");
}

TEST_F(RouterTest, ToolsAndStructuredOutputRaiseTheScore) {
  PromptFeatures plain;
  plain.turns = 1;
  PromptFeatures tooled = plain;
  tooled.tools = true;
  tooled.response_format = true;
  EXPECT_GT(complexity_score(tooled, config.classifier),
            complexity_score(plain, config.classifier));
  EXPECT_EQ(tier_of(complexity_score(tooled, config.classifier), config.classifier), 1u);
}

// A point on the steady clock, in whole seconds from an arbitrary start.
TimePoint at_second(double seconds) {
  return TimePoint{} + std::chrono::hours(1000) +
         std::chrono::duration_cast<core::Duration>(std::chrono::duration<double>(seconds));
}

// How many retries the budget grants at `when` before it refuses one.
int retries_granted(RetryBudget& budget, TimePoint when) {
  int granted = 0;
  while (granted < 100000 && budget.try_acquire_retry(when)) ++granted;
  return granted;
}

TEST(RetryBudget, AQuietGatewayMayMakeTheFloorOfRetriesPerWindow) {
  RetryBudget budget(
      config::RetryBudgetPolicy{.ratio = 0.2, .min_per_second = 1, .window_seconds = 10});
  budget.count_request(at_second(0));
  // 1 request × 20% is less than the floor of 1 per second × 10 s.
  EXPECT_EQ(retries_granted(budget, at_second(0.5)), 10);
  EXPECT_FALSE(budget.try_acquire_retry(at_second(9.9)));
  // Ten seconds on, those retries have left the window.
  EXPECT_EQ(retries_granted(budget, at_second(10.1)), 10);
}

TEST(RetryBudget, InAStormRetriesStayWithinTheRatioOfRequests) {
  RetryBudget budget(
      config::RetryBudgetPolicy{.ratio = 0.2, .min_per_second = 1, .window_seconds = 10});
  // 1000 requests spread over 5 s: 200 retries, so attempts are at most 1.2 × requests.
  for (int i = 0; i < 1000; ++i) budget.count_request(at_second(i * 0.005));
  int granted = 0;
  for (int second = 0; second < 5; ++second) granted += retries_granted(budget, at_second(second));
  EXPECT_EQ(granted, 200);
  // More requests earn more retries, a fifth of one each.
  for (int i = 0; i < 50; ++i) budget.count_request(at_second(5));
  EXPECT_EQ(retries_granted(budget, at_second(5)), 10);
}

TEST(RetryBudget, RequestsOlderThanTheWindowEarnNothing) {
  RetryBudget budget(
      config::RetryBudgetPolicy{.ratio = 0.5, .min_per_second = 0, .window_seconds = 2});
  for (int i = 0; i < 10; ++i) budget.count_request(at_second(0));
  for (int i = 0; i < 4; ++i) budget.count_request(at_second(1));
  EXPECT_EQ(retries_granted(budget, at_second(1)), 7);  // (10 + 4) × 0.5
  EXPECT_EQ(retries_granted(budget, at_second(2)), 0);  // 4 × 0.5 = 2, both spent at 1 s
  EXPECT_EQ(retries_granted(budget, at_second(3.5)), 0);
  // A slot reused a window later starts from nothing (64 slots: second 64 reuses second 0's).
  budget.count_request(at_second(64));
  budget.count_request(at_second(64));
  EXPECT_EQ(retries_granted(budget, at_second(64)), 1);
}

TEST(RetryBudget, ANewPolicyAppliesToWhatWasAlreadyCounted) {
  RetryBudget budget(
      config::RetryBudgetPolicy{.ratio = 0.1, .min_per_second = 0, .window_seconds = 10});
  for (int i = 0; i < 100; ++i) budget.count_request(at_second(0));
  EXPECT_EQ(retries_granted(budget, at_second(0)), 10);
  budget.set_policy(
      config::RetryBudgetPolicy{.ratio = 0.3, .min_per_second = 0, .window_seconds = 10});
  EXPECT_EQ(retries_granted(budget, at_second(0)), 20);
}

TEST(RetryBudget, ConcurrentRetriesNeverOvershootTheBudget) {
  RetryBudget budget(
      config::RetryBudgetPolicy{.ratio = 0.2, .min_per_second = 0, .window_seconds = 10});
  const TimePoint now = at_second(0);
  for (int i = 0; i < 1000; ++i) budget.count_request(now);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) granted += budget.try_acquire_retry(now) ? 1 : 0;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(granted.load(), 200);
}

TEST(RetryBudget, AReloadKeepsWhatWasSpentAndAppliesTheNewPolicy) {
  config::Config before = load();
  before.retry_budget = {.ratio = 0.2, .min_per_second = 0, .window_seconds = 10};
  LiveState live(before);
  const TimePoint now = at_second(0);
  for (int i = 0; i < 50; ++i) live.retry_budget().count_request(now);
  EXPECT_EQ(retries_granted(live.retry_budget(), now), 10);
  // Twice the ratio allows 10 more, not 20: the first 10 are still in the window.
  config::Config after = load();
  after.retry_budget = {.ratio = 0.4, .min_per_second = 0, .window_seconds = 10};
  LiveState reloaded(after, live);
  EXPECT_EQ(retries_granted(reloaded.retry_budget(), now), 10);
}

TEST(EndpointAdmission, SlotsAreTakenAtomicallyUpToTheLimit) {
  config::Endpoint endpoint;
  EndpointState state(endpoint);
  EXPECT_TRUE(state.try_admit(2));
  EXPECT_TRUE(state.try_admit(2));
  EXPECT_FALSE(state.try_admit(2));
  EXPECT_TRUE(state.try_admit(0));  // no limit
  state.release();
  state.release();
  EXPECT_EQ(state.in_flight(), 1u);
}

}  // namespace
}  // namespace fulcrum::router
