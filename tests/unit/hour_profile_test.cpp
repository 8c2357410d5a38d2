// The hour-of-week profile on an injected clock: what it recommends for a coming hour, worked
// out by hand from the ledger rows it was given.
#include "fulcrum/metering/hour_profile.hpp"

#include <gtest/gtest.h>

#include "fulcrum/config/loader.hpp"

namespace fulcrum::metering {
namespace {

constexpr std::int64_t kHour = HourProfile::kHourMs;
constexpr std::int64_t kWeek = HourProfile::kWeekMs;
constexpr std::int64_t kNow = 2900 * kWeek;  // an hour-of-week 0, whatever day that is

// A unit of 3,600 output tokens an hour at $0.15 an hour; serverless at $100 per million
// output tokens ($0.0001 each).
config::Config load() {
  auto config = config::load_string(R"(version: 1
endpoints:
  cloud:
    kind: serverless
    base_url: http://127.0.0.1:1/v1
    pricing: {m: {input: 0, output: 100}}
  gpu:
    kind: provisioned
    base_url: http://127.0.0.1:2/v1
    hourly_usd: 0.15
    capacity: {output_tokens_per_second: 1, input_token_weight: 0}
models:
  llama: {targets: [gpu/m, cloud/m]}
)",
                                    "plan.yaml");
  EXPECT_TRUE(config.has_value()) << config.error().front().to_string();
  return std::move(*config);
}

UsageRecord served_by_cloud(std::int64_t started_ms, std::int64_t output_tokens) {
  UsageRecord r;
  r.started_ms = started_ms;
  r.alias = "llama";
  r.endpoint = "cloud";
  r.endpoint_kind = "serverless";
  r.output_tokens = output_tokens;
  r.cost = core::Money::from_usd(static_cast<double>(output_tokens) * 1e-4);
  return r;
}

class HourProfileTest : public ::testing::Test {
 protected:
  config::Config config = load();
  HourProfile profile{config, kNow, 2};
};

// Hour-of-week 1 saw 4,000 tokens two weeks ago and 10,000 last week. Over those two hours:
//   0 units: all serverless, (4,000 + 10,000) × $0.0001 = $1.40
//   1 unit:  2 × $0.15 + (400 + 6,400) × $0.0001 = $0.98
//   2 units: 2 × $0.30 + (0 + 2,800) × $0.0001 = $0.88   <- the optimum
//   3 units: 2 × $0.45 = $0.90
TEST_F(HourProfileTest, RecommendsTheReportsOptimumForTheComingHourOfTheWeek) {
  profile.add(served_by_cloud(kNow - 2 * kWeek + kHour + 5 * 60000, 4000));
  profile.add(served_by_cloud(kNow - kWeek + kHour + 10 * 60000, 10000));
  // Outside the two weeks, or not yet past: not learnt.
  profile.add(served_by_cloud(kNow - 3 * kWeek + kHour, 1'000'000));
  profile.add(served_by_cloud(kNow + kHour, 1'000'000));

  EXPECT_EQ(profile.since_ms(), kNow - 2 * kWeek);
  const auto next_hour = profile.recommended_units(kNow + kHour);
  ASSERT_EQ(next_hour.count("gpu"), 1u);
  EXPECT_EQ(next_hour.at("gpu"), 2u);
  // The same hour-of-week next week, and any minute of that hour, read the same profile.
  EXPECT_EQ(profile.recommended_units(kNow + kWeek + kHour + 59 * 60000).at("gpu"), 2u);
  // An hour-of-week without traffic needs no unit.
  EXPECT_EQ(profile.recommended_units(kNow + 5 * kHour).at("gpu"), 0u);
}

// Last week's hour alone (10,000 tokens): 1 unit $0.15 + $0.64 = $0.79, 2 units $0.30 + $0.28 =
// $0.58, 3 units $0.45, 4 units $0.60: three.
TEST_F(HourProfileTest, OneWeekOfTrafficIsOneHourOfTheReport) {
  HourProfile one_week(config, kNow, 1);
  one_week.add(served_by_cloud(kNow - 2 * kWeek + kHour, 4000));  // before its week
  one_week.add(served_by_cloud(kNow - kWeek + kHour, 10000));
  EXPECT_EQ(one_week.recommended_units(kNow + kHour).at("gpu"), 3u);
}

// Prewarm follows the profile: an endpoint is expected where it served in at least half of the
// past weeks' same hour.
TEST_F(HourProfileTest, ExpectsTrafficWhereMostWeeksHadIt) {
  profile.add(served_by_cloud(kNow - kWeek + 3 * kHour, 10));  // one week of two: half
  profile.add(served_by_cloud(kNow - kWeek + 4 * kHour, 10));
  profile.add(served_by_cloud(kNow - 2 * kWeek + 4 * kHour, 10));
  EXPECT_TRUE(profile.expects_traffic("cloud", kNow + 3 * kHour));
  EXPECT_TRUE(profile.expects_traffic("cloud", kNow + 4 * kHour + 30 * 60000));
  EXPECT_FALSE(profile.expects_traffic("cloud", kNow + 5 * kHour));
  EXPECT_FALSE(profile.expects_traffic("gpu", kNow + 3 * kHour));
  EXPECT_FALSE(profile.expects_traffic("nowhere", kNow + 3 * kHour));

  HourProfile four_weeks(config, kNow, 4);
  four_weeks.add(served_by_cloud(kNow - kWeek + 3 * kHour, 10));  // one week of four
  EXPECT_FALSE(four_weeks.expects_traffic("cloud", kNow + 3 * kHour));
  four_weeks.add(served_by_cloud(kNow - 3 * kWeek + 3 * kHour, 10));  // two of four
  EXPECT_TRUE(four_weeks.expects_traffic("cloud", kNow + 3 * kHour));
}

// Automatic prewarm on an injected clock: warm in the hours the profile expects traffic, and
// from a cold start (p95, 90 s here) before them.
TEST(AutoPrewarm, WarmsWhereTheProfileExpectsTrafficAndAColdStartAhead) {
  auto config = config::load_string(R"(version: 1
endpoints:
  cold:
    kind: serverless
    base_url: http://127.0.0.1:1/v1
    pricing: {m: {input: 0, output: 1}}
    cold_start: {after_idle: 5m, p50: 30s, p95: 90s}
    prewarm: {auto: true}
  plain:
    kind: serverless
    base_url: http://127.0.0.1:2/v1
    pricing: {m: {input: 0, output: 1}}
    cold_start: {after_idle: 5m, p50: 30s, p95: 90s}
models:
  cold-model: {targets: [cold/m]}
  plain-model: {targets: [plain/m]}
)",
                                    "prewarm.yaml");
  ASSERT_TRUE(config.has_value()) << config.error().front().to_string();
  HourProfile profile(*config, kNow, 2);
  for (const std::int64_t week : {kWeek, 2 * kWeek}) {
    UsageRecord r = served_by_cloud(kNow - week + 9 * kHour + 20 * 60000, 10);
    r.alias = "cold-model";
    r.endpoint = "cold";
    profile.add(r);
    r.alias = "plain-model";
    r.endpoint = "plain";
    profile.add(r);
  }
  const TrafficPlan plan = make_plan(*config, profile, kNow + 30 * 60000);
  EXPECT_EQ(plan.hour_start_ms, kNow + kHour);
  ASSERT_EQ(plan.expected.count("cold"), 1u);
  EXPECT_EQ(plan.expected.count("plain"), 0u);  // no automatic prewarm there
  const config::Endpoint& cold = config->endpoints[0];
  EXPECT_FALSE(auto_prewarm_due(plan, cold, kNow + 8 * kHour));
  EXPECT_FALSE(auto_prewarm_due(plan, cold, kNow + 9 * kHour - 91000));
  EXPECT_TRUE(auto_prewarm_due(plan, cold, kNow + 9 * kHour - 89000));  // a cold start ahead
  EXPECT_TRUE(auto_prewarm_due(plan, cold, kNow + 9 * kHour + 59 * 60000));
  EXPECT_FALSE(auto_prewarm_due(plan, cold, kNow + 10 * kHour));
  // The same hour next week, from the same plan.
  EXPECT_TRUE(auto_prewarm_due(plan, cold, kNow + kWeek + 9 * kHour + 60000));
  EXPECT_FALSE(auto_prewarm_due(plan, config->endpoints[1], kNow + 9 * kHour + 60000));
}

}  // namespace
}  // namespace fulcrum::metering
