// Reading a serving engine's own load from its Prometheus exposition: golden pages in each
// engine's shape (tests/data/engine_metrics, sources in its SOURCES.md), then the corners of
// the text format a scraper meets.
#include "engine_load.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace fulcrum::net {
namespace {

using config::EngineFormat;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(FULCRUM_TEST_DATA) + "/engine_metrics/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A vLLM page with these lines after the two gauges every reading needs.
std::string vllm_with(const std::string& lines) {
  return "vllm:num_requests_running{model_name=\"m\"} 1\n"
         "vllm:num_requests_waiting{model_name=\"m\"} 2\n" +
         lines;
}

TEST(EngineLoad, VllmV1SumsTheEngineRanksAndTakesTheFullestCache) {
  const auto load = parse_engine_metrics(fixture("vllm_v1.prom"), EngineFormat::vllm);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 8);
  EXPECT_DOUBLE_EQ(load->waiting, 2);
  ASSERT_TRUE(load->kv_cache_usage);
  EXPECT_DOUBLE_EQ(*load->kv_cache_usage, 0.5731);
}

TEST(EngineLoad, VllmBeforeTheRenameReadsGpuCacheUsage) {
  const auto load = parse_engine_metrics(fixture("vllm_legacy.prom"), EngineFormat::vllm);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 12);
  EXPECT_DOUBLE_EQ(load->waiting, 4);
  ASSERT_TRUE(load->kv_cache_usage);
  EXPECT_DOUBLE_EQ(*load->kv_cache_usage, 0.8152);
}

TEST(EngineLoad, VllmPrefersTheCurrentCacheNameWhenBothAreThere) {
  // Between the rename and the removal, vLLM served both names.
  const auto load = parse_engine_metrics(vllm_with("vllm:gpu_cache_usage_perc 0.9\n"
                                                   "vllm:kv_cache_usage_perc 0.3\n"),
                                         EngineFormat::vllm);
  ASSERT_TRUE(load && load->kv_cache_usage);
  EXPECT_DOUBLE_EQ(*load->kv_cache_usage, 0.3);
}

TEST(EngineLoad, SglangSumsTheDataParallelRanks) {
  const auto load = parse_engine_metrics(fixture("sglang.prom"), EngineFormat::sglang);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 16);
  EXPECT_DOUBLE_EQ(load->waiting, 3);
  ASSERT_TRUE(load->kv_cache_usage);
  EXPECT_DOUBLE_EQ(*load->kv_cache_usage, 0.74);
}

TEST(EngineLoad, TgiHasNoCacheUsage) {
  const auto load = parse_engine_metrics(fixture("tgi.prom"), EngineFormat::tgi);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 6);
  EXPECT_DOUBLE_EQ(load->waiting, 2);
  EXPECT_FALSE(load->kv_cache_usage);
}

TEST(EngineLoad, AnotherEnginesPageIsNotAReading) {
  EXPECT_FALSE(parse_engine_metrics(fixture("vllm_v1.prom"), EngineFormat::sglang));
  EXPECT_FALSE(parse_engine_metrics(fixture("sglang.prom"), EngineFormat::tgi));
  EXPECT_FALSE(parse_engine_metrics(fixture("tgi.prom"), EngineFormat::vllm));
}

TEST(EngineLoad, RunningAndWaitingAreBothNeeded) {
  EXPECT_FALSE(parse_engine_metrics("vllm:num_requests_running 3\n", EngineFormat::vllm));
  EXPECT_FALSE(parse_engine_metrics("vllm:num_requests_waiting 3\n", EngineFormat::vllm));
  EXPECT_FALSE(parse_engine_metrics("tgi_queue_size 1\ntgi_batch_current_max_tokens 9\n",
                                    EngineFormat::tgi));
  // A family announced but with no sample is absent too.
  EXPECT_FALSE(
      parse_engine_metrics("# HELP vllm:num_requests_running x\n"
                           "# TYPE vllm:num_requests_running gauge\n"
                           "vllm:num_requests_waiting 1\n",
                           EngineFormat::vllm));
  // KV usage alone is optional.
  const auto load = parse_engine_metrics(vllm_with(""), EngineFormat::vllm);
  ASSERT_TRUE(load);
  EXPECT_FALSE(load->kv_cache_usage);
}

TEST(EngineLoad, WhatIsNotAnExpositionIsNoReading) {
  EXPECT_FALSE(parse_engine_metrics("", EngineFormat::vllm));
  EXPECT_FALSE(parse_engine_metrics("\n\n", EngineFormat::vllm));
  EXPECT_FALSE(
      parse_engine_metrics("<html><body>502 Bad Gateway</body></html>", EngineFormat::tgi));
  EXPECT_FALSE(parse_engine_metrics(
      R"({"vllm:num_requests_running": 3, "vllm:num_requests_waiting": 1})", EngineFormat::vllm));
}

TEST(EngineLoad, NamesThatOnlyShareAPrefixAreOtherMetrics) {
  const auto load =
      parse_engine_metrics(vllm_with("vllm:num_requests_running_total 500\n"
                                     "vllm:num_requests_running_created 1.7e9\n"
                                     "vllm:num_requests_waiting_by_reason{reason=\"capacity\"} 40\n"
                                     "vllm:kv_cache_usage_perc_max 0.99\n"
                                     "xvllm:num_requests_running 70\n"),
                           EngineFormat::vllm);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 1);
  EXPECT_DOUBLE_EQ(load->waiting, 2);
  EXPECT_FALSE(load->kv_cache_usage);
  // And a prefix of a wanted name is not it either.
  EXPECT_FALSE(parse_engine_metrics("tgi_queue 1\ntgi_batch_current_size 1\n", EngineFormat::tgi));
}

TEST(EngineLoad, LabelValuesMayHoldEscapesCommasAndBraces) {
  const auto load = parse_engine_metrics(
      R"(vllm:num_requests_running{model_name="a \"quoted\" name, with {braces}",engine="0"} 4
vllm:num_requests_running{model_name="back\\slash\\",engine="1"} 5
vllm:num_requests_running{model_name="two\nlines } 100",engine="2",} 6
vllm:num_requests_waiting { model_name = "spaced" , engine = "0" } 1
vllm:kv_cache_usage_perc{model_name="}"} 0.5
)",
      EngineFormat::vllm);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 15);
  EXPECT_DOUBLE_EQ(load->waiting, 1);
  ASSERT_TRUE(load->kv_cache_usage);
  EXPECT_DOUBLE_EQ(*load->kv_cache_usage, 0.5);
}

TEST(EngineLoad, TimestampsAndExemplarsAfterTheValueAreSkipped) {
  const auto load = parse_engine_metrics(
      "tgi_batch_current_size 3 1764124032910\n"
      "tgi_queue_size{shard=\"0\"} 2 -1764124032910\n"
      "tgi_queue_size{shard=\"1\"} 1 1.764124032e9 # {trace_id=\"abc\"} 1.0\n",
      EngineFormat::tgi);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 3);
  EXPECT_DOUBLE_EQ(load->waiting, 3);
}

TEST(EngineLoad, NonFiniteSamplesAreSkipped) {
  const auto load = parse_engine_metrics(
      "sglang:num_running_reqs{dp_rank=\"0\"} NaN\n"
      "sglang:num_running_reqs{dp_rank=\"1\"} 2\n"
      "sglang:num_running_reqs{dp_rank=\"2\"} +Inf\n"
      "sglang:num_queue_reqs{dp_rank=\"0\"} -Inf\n"
      "sglang:num_queue_reqs{dp_rank=\"1\"} 1e0\n"
      "sglang:token_usage{dp_rank=\"0\"} Inf\n"
      "sglang:token_usage{dp_rank=\"1\"} 0.25\n"
      "sglang:token_usage{dp_rank=\"2\"} nan\n",
      EngineFormat::sglang);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 2);
  EXPECT_DOUBLE_EQ(load->waiting, 1);
  ASSERT_TRUE(load->kv_cache_usage);
  EXPECT_DOUBLE_EQ(*load->kv_cache_usage, 0.25);
  // Only non-finite samples: the gauge says nothing.
  EXPECT_FALSE(
      parse_engine_metrics("tgi_batch_current_size NaN\ntgi_queue_size 0\n", EngineFormat::tgi));
}

TEST(EngineLoad, NegativeCountsCountAsZeroAndUsageStaysAFraction) {
  const auto load = parse_engine_metrics(
      "vllm:num_requests_running{engine=\"0\"} -4\n"
      "vllm:num_requests_running{engine=\"1\"} 3\n"
      "vllm:num_requests_waiting -1\n"
      "vllm:kv_cache_usage_perc{engine=\"0\"} 1.7\n"
      "vllm:kv_cache_usage_perc{engine=\"1\"} 0.2\n",
      EngineFormat::vllm);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 3);  // the negative rank does not cancel the other
  EXPECT_DOUBLE_EQ(load->waiting, 0);
  EXPECT_DOUBLE_EQ(load->kv_cache_usage.value_or(-1), 1);
  const auto below =
      parse_engine_metrics(vllm_with("vllm:kv_cache_usage_perc -0.5\n"), EngineFormat::vllm);
  ASSERT_TRUE(below);
  EXPECT_DOUBLE_EQ(below->kv_cache_usage.value_or(-1), 0);
}

TEST(EngineLoad, LineEndingsAndTheLastLineMayVary) {
  const std::string crlf =
      "# HELP tgi_queue_size Current queue size\r\n# TYPE tgi_queue_size gauge\r\n"
      "tgi_queue_size 4\r\n\r\ntgi_batch_current_size 7\r\n";
  auto load = parse_engine_metrics(crlf, EngineFormat::tgi);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 7);
  EXPECT_DOUBLE_EQ(load->waiting, 4);

  load = parse_engine_metrics("tgi_queue_size 4\ntgi_batch_current_size 7", EngineFormat::tgi);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 7);

  load = parse_engine_metrics("\t tgi_queue_size\t4 \n  tgi_batch_current_size   7\t\n# EOF\n",
                              EngineFormat::tgi);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 7);
  EXPECT_DOUBLE_EQ(load->waiting, 4);
}

TEST(EngineLoad, Prometheus3QuotedNamesAreRead) {
  const auto load = parse_engine_metrics(
      "{\"vllm:num_requests_running\",engine=\"0\"} 2\n"
      "{\"vllm:num_requests_running\", \"engine\"=\"1\"} 3\n"
      "{\"vllm:num_requests_waiting\"} 1\n",
      EngineFormat::vllm);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 5);
  EXPECT_DOUBLE_EQ(load->waiting, 1);
}

TEST(EngineLoad, ABrokenLineOfAReadMetricSpoilsTheReading) {
  // Each of these, added to a page that is otherwise whole, makes it unbelievable.
  for (const char* broken : {
           "vllm:num_requests_running{engine=\"1\"} five\n",
           "vllm:num_requests_running{engine=\"1\"}\n",
           "vllm:num_requests_running{engine=\"1\" 5\n",
           "vllm:num_requests_running{engine=\"1} 5\n",
           "vllm:num_requests_running{engine=1} 5\n",
           "vllm:num_requests_running{engine=\"1\"} 5 6 7\n",
           "vllm:num_requests_running{engine=\"1\"} 5 later\n",
           "vllm:num_requests_running{engine=\"1\"} 0x10\n",
           "vllm:num_requests_running{engine=\"1\"} +-5\n",
           "vllm:num_requests_running{engine=\"1\"} 1e999\n",
           "vllm:kv_cache_usage_perc{,} 0.5\n",
       }) {
    EXPECT_FALSE(parse_engine_metrics(vllm_with(broken), EngineFormat::vllm)) << broken;
  }
  // The same damage on a series this does not read is none of its business.
  const auto load =
      parse_engine_metrics(vllm_with("vllm:time_to_first_token_seconds_bucket{le=\"0.5\" 3\n"
                                     "vllm:prompt_tokens_total{engine=\"0\"} lots\n"
                                     "garbage line without a value\n"),
                           EngineFormat::vllm);
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ(load->running, 1);
}

}  // namespace
}  // namespace fulcrum::net
