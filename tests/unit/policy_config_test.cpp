// Routing policy in YAML: what loads, and every invalid policy reported with its place.
#include <gtest/gtest.h>

#include "fulcrum/config/loader.hpp"

namespace fulcrum::config {
namespace {

constexpr const char* kEndpoints = R"(version: 1
endpoints:
  gpu:
    kind: provisioned
    base_url: http://127.0.0.1:1/v1
    hourly_usd: 2
    capacity: {max_concurrency: 8}
  cloud:
    kind: serverless
    base_url: http://127.0.0.1:2/v1
    pricing: {m: {input: 1, output: 2}}
)";

std::vector<Issue> issues_of(const std::string& rest) {
  auto loaded = load_string(std::string(kEndpoints) + rest, "policy.yaml");
  EXPECT_FALSE(loaded.has_value());
  return loaded ? std::vector<Issue>{} : loaded.error();
}

// The single issue's "line: message", for compact assertions.
std::string only_issue(const std::string& rest) {
  const auto issues = issues_of(rest);
  EXPECT_EQ(issues.size(), 1u);
  std::string all;
  for (const auto& issue : issues) all += std::to_string(issue.line) + ": " + issue.message + "\n";
  return all;
}

TEST(PolicyConfig, AFullPolicyLoads) {
  auto loaded =
      load_string(std::string(kEndpoints) + R"(    cold_start: {after_idle: 5m, p50: 8s, p95: 1m}
    prewarm: [{cron: "45 7 * * 1-5", until: "19:00", tz: Europe/Berlin}]
slo_classes:
  realtime: {priority: 100, ttft: 800ms, e2e: 30s, max_queue_wait: 0ms}
  batch: {priority: 1, ttft: 1m, e2e: 1h, max_queue_wait: 1m}
classifiers:
  complexity:
    keywords: [Step By Step]
    weights: {code_block: 2}
    tiers: {simple: 0, complex: 3}
models:
  base: {targets: [gpu/llama, {endpoint: cloud, model: m, weight: 2}]}
  wrapper: {targets: [base, cloud/m]}
  auto: {classify: complexity, tiers: {simple: base, complex: wrapper}}
routes:
  - name: nightly
    match: {model: [base], time: {tz: Europe/Berlin, between: "22:00-06:00", days: [mon..fri]}}
    slo: batch
    strategy: ordered
    fallback: [wrapper]
    retries: {max: 2, on: [5xx, timeout], backoff: {base: 50ms, max: 1s}, max_retry_after: 3s}
    timeouts: {first_byte: 5s}
retry_budget: {ratio: 0.1, min_per_second: 0.5, window: 2500ms}
)",
                  "policy.yaml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().front().to_string();
  const Config& config = *loaded;
  ASSERT_EQ(config.slo_classes.size(), 2u);
  EXPECT_EQ(config.slo_classes[0].ttft, std::chrono::milliseconds(800));
  EXPECT_EQ(config.classifier.keywords, std::vector<std::string>{"step by step"});
  EXPECT_EQ(config.classifier.weights.code_block, 2);
  ASSERT_EQ(config.routes.size(), 2u);  // nightly, then the built-in default
  const Route& nightly = config.routes[0];
  EXPECT_EQ(nightly.strategy, Strategy::ordered);
  EXPECT_EQ(nightly.slo, 1u);
  EXPECT_EQ(nightly.retries.max, 2u);
  EXPECT_FALSE(nightly.retries.retries_on(RetryOn::status_429));
  EXPECT_EQ(nightly.timeouts.first_byte, std::chrono::seconds(5));
  EXPECT_EQ(config.routes[1].name, "default");
  EXPECT_EQ(config.retry_budget.ratio, 0.1);
  EXPECT_EQ(config.retry_budget.min_per_second, 0.5);
  EXPECT_EQ(config.retry_budget.window_seconds, 3u);  // whole seconds, rounded up
  // "wrapper" splices in base's targets: gpu/llama, cloud/m (once), nothing repeated.
  const ModelAlias* wrapper = config.find_alias("wrapper");
  ASSERT_EQ(wrapper->targets.size(), 2u);
  EXPECT_EQ(wrapper->targets[1].weight, 2);
  EXPECT_TRUE(config.find_alias("auto")->classify);
  ASSERT_EQ(config.endpoints[1].prewarm.size(), 1u);
  EXPECT_EQ(config.endpoints[1].prewarm[0].model, "m");
  EXPECT_EQ(config.endpoints[1].prewarm[0].every, std::chrono::seconds(150));
}

TEST(PolicyConfig, TheRetryBudgetHasSafeDefaultsAndBoundedSettings) {
  auto loaded =
      load_string(std::string(kEndpoints) + "models: {a: {targets: [cloud/m]}}\n", "policy.yaml");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().front().to_string();
  EXPECT_EQ(loaded->retry_budget.ratio, 0.2);
  EXPECT_EQ(loaded->retry_budget.min_per_second, 1);
  EXPECT_EQ(loaded->retry_budget.window_seconds, 10u);

  const std::string models = "models: {a: {targets: [cloud/m]}}\n";
  EXPECT_EQ(only_issue(models + "retry_budget: {ratio: 1.5}\n"),
            "13: retry_budget.ratio must be between 0 and 1\n");
  EXPECT_EQ(only_issue(models + "retry_budget: {min_per_second: 5000}\n"),
            "13: retry_budget.min_per_second must be between 0 and 1000\n");
  EXPECT_EQ(only_issue(models + "retry_budget: {window: 2m}\n"),
            "13: retry_budget.window must be between 1s and 60s\n");
  EXPECT_EQ(only_issue(models + "retry_budget: {share: 0.2}\n").substr(0, 4), "13: ");
}

TEST(PolicyConfig, UnknownSloClassIsReportedWhereItIsNamed) {
  const auto message = only_issue(R"(models:
  base: {targets: [gpu/llama]}
routes:
  - name: r
    slo: urgent
)");
  EXPECT_EQ(message, "16: unknown SLO class 'urgent' (defined: realtime, standard, batch)\n");
}

TEST(PolicyConfig, AliasesNamingEachOtherAreACycle) {
  const auto issues = issues_of(R"(models:
  a: {targets: [b]}
  b: {targets: [cloud/m, a]}
)");
  ASSERT_FALSE(issues.empty());
  EXPECT_EQ(issues[0].message, "alias 'b' and 'a' name each other: a cycle");
  EXPECT_EQ(issues[0].line, 14);
}

TEST(PolicyConfig, WeightsMustBePositive) {
  EXPECT_EQ(only_issue(R"(models:
  a: {targets: [{endpoint: cloud, model: m, weight: 0}]}
)"),
            "13: weight must be positive\n");
}

TEST(PolicyConfig, BadTimeWindowsAreReported) {
  EXPECT_EQ(only_issue(R"(models:
  a: {targets: [cloud/m]}
routes:
  - name: r
    match: {time: {between: "22:00-25:00"}}
)"),
            "16: between must be \"HH:MM-HH:MM\" with different ends\n");
  EXPECT_EQ(only_issue(R"(models:
  a: {targets: [cloud/m]}
routes:
  - name: r
    match: {time: {tz: Europe/Atlantis, between: "22:00-06:00"}}
)"),
            "16: unknown time zone 'Europe/Atlantis' (an IANA name such as Europe/Berlin)\n");
  EXPECT_EQ(only_issue(R"(models:
  a: {targets: [cloud/m]}
routes:
  - name: r
    match: {time: {between: "22:00-06:00", days: [mon..friday]}}
)"),
            "16: days are mon..sun or ranges such as mon..fri\n");
}

TEST(PolicyConfig, OtherPolicyMistakesAreEachReported) {
  const auto issues = issues_of(R"(    headroom: {fraction: 1.5}
    on_429: maybe
models:
  a: {targets: [cloud/m]}
  auto: {classify: complexity, tiers: {simple: a, hard: a}}
routes:
  - name: r
    strategy: fastest
    fallback: [nowhere]
    retries: {on: [teapot]}
    match: {tier: [huge]}
)");
  std::vector<std::string> messages;
  for (const auto& issue : issues) messages.push_back(issue.message);
  const auto has = [&](const std::string& part) {
    return std::any_of(messages.begin(), messages.end(),
                       [&](const std::string& m) { return m.find(part) != std::string::npos; });
  };
  EXPECT_TRUE(has("headroom applies to provisioned endpoints only"));
  EXPECT_TRUE(has("headroom.fraction must be at least 0 and below 1"));
  EXPECT_TRUE(has("on_429 must be 'spill'"));
  EXPECT_TRUE(has("unknown classifier tier 'hard'"));
  EXPECT_TRUE(has("tier 'medium' names no model alias"));
  EXPECT_TRUE(has("strategy must be cheapest_meeting_slo"));
  EXPECT_TRUE(has("fallback names unknown model alias 'nowhere'"));
  EXPECT_TRUE(has("retries.on entries are connect, timeout, 5xx or 429"));
  EXPECT_TRUE(has("unknown classifier tier 'huge'"));
  for (const auto& issue : issues) EXPECT_GT(issue.line, 0) << issue.message;
}

}  // namespace
}  // namespace fulcrum::config
