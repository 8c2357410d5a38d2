// Microbenchmarks of the routing decision (Google Benchmark): route matching, scoring and
// ranking across many candidates, with live state that forces every branch to be evaluated.
//   cmake --build build-release --target fulcrum_router_bench &&
//   build-release/bench/fulcrum_router_bench
#include <benchmark/benchmark.h>

#include <string>

#include "fulcrum/api/prompt_features.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/router/plan.hpp"

namespace {

using namespace fulcrum;

// `count` endpoints, alternating provisioned (with headroom) and serverless (half of them
// scale-to-zero), all serving one alias; three routes to match before the default.
std::string policy(int count) {
  std::string yaml = "version: 1\nendpoints:\n";
  std::string targets;
  for (int i = 0; i < count; ++i) {
    const std::string name = "e" + std::to_string(i);
    if (i % 2 == 0) {
      yaml += "  " + name + ": {kind: provisioned, base_url: http://127.0.0.1:1/v1, " +
              "hourly_usd: 2, capacity: {max_concurrency: 8}, headroom: {fraction: 0.25}}\n";
    } else {
      yaml += "  " + name + ": {kind: serverless, base_url: http://127.0.0.1:1/v1, " +
              "pricing: {m: {input: " + std::to_string(0.1 * i) + ", output: 1}}" +
              (i % 4 == 1 ? ", cold_start: {after_idle: 300s}" : "") + "}\n";
    }
    targets += (targets.empty() ? "" : ", ") + name + "/m";
  }
  yaml += "models:\n  many: {targets: [" + targets + "]}\n  other: {targets: [e1/m]}\n";
  yaml += R"(routes:
  - {name: a, match: {model: other}}
  - {name: b, match: {model: many, headers: {x-team: [search]}}}
  - {name: c, match: {model: many, time: {tz: Europe/Berlin, between: "22:00-06:00"}}}
)";
  return yaml;
}

void BM_Choose(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  auto config = config::load_string(policy(count), "bench.yaml");
  if (!config) {
    state.SkipWithError(config.error().front().to_string().c_str());
    return;
  }
  router::LiveState live(*config);
  const auto now = core::Clock::now();
  // Some provisioned endpoints busy, some serverless warm, one circuit open.
  for (int i = 0; i < count; i += 4) {
    for (int s = 0; s < 7; ++s) live.endpoint(i).try_admit(0);
  }
  for (int i = 3; i < count; i += 4) live.endpoint(i).mark_active(now);

  std::vector<std::string_view> headers(config->route_headers.size(), "ads");
  router::RouteInput input;
  input.alias = config->find_alias("many");
  input.header_values = headers;
  input.prompt.estimated_tokens = 800;
  input.prompt.max_tokens = 200;
  input.now = now;
  input.wall_now = core::WallClock::now();
  for (auto _ : state) {
    ++input.random;
    router::Plan plan = router::choose(input, *config, live);
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_Choose)->Arg(2)->Arg(8)->Arg(32);

void BM_PromptFeatures(benchmark::State& state) {
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "Explain the trade-off between latency and cost. ";
  auto request = api::parse_request(
      api::Operation::chat_completions,
      R"({"model":"auto","messages":[{"role":"user","content":")" + prompt + R"("}]})");
  auto config = config::load_string(policy(2), "bench.yaml");
  for (auto _ : state) {
    auto features = api::prompt_features(*request, config->classifier.keywords);
    benchmark::DoNotOptimize(features);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * prompt.size()));
}
BENCHMARK(BM_PromptFeatures);

}  // namespace

BENCHMARK_MAIN();
