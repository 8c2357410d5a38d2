// fulcrum-sim itself: the behaviours the demo, the tests and the benchmark rely on.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/temp_dir.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

class Sim : public ::testing::Test {
 protected:
  void start(const std::string& yaml) {
    std::ofstream(dir_ + "/sim.yaml") << yaml;
    sim_ = std::make_unique<Process>(
        std::vector<std::string>{sim_binary(), "--config", dir_ + "/sim.yaml"});
    const auto port = sim_->wait_for(std::regex("^listening \\S+ [^ ]+:(\\d+)"));
    ASSERT_TRUE(port);
    port_ = static_cast<std::uint16_t>(std::stoi(*port));
  }
  void TearDown() override { sim_.reset(); }
  json stats(const std::string& name) {
    return json::parse(HttpClient(port_).get("/sim/stats").body)[name];
  }

  testing::TempDir temp_{"sim"};
  const std::string dir_ = temp_.path();
  std::unique_ptr<Process> sim_;
  std::uint16_t port_ = 0;
};

constexpr const char* kChat =
    R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"one two"}]})";

TEST_F(Sim, AnswersWithExactUsageAndDeterministicText) {
  start("endpoints:\n  s: {listen: 127.0.0.1:0, cached_tokens: 1}\n");
  const Response res = HttpClient(port_).post("/v1/chat/completions", kChat);
  ASSERT_EQ(res.status, 200u);
  const json body = json::parse(res.body);
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Fulcrum routes tokens to the ");
  EXPECT_EQ(body["usage"],
            json::parse(R"({"prompt_tokens":2,"completion_tokens":5,"total_tokens":7,)"
                        R"("prompt_tokens_details":{"cached_tokens":1}})"));
}

TEST_F(Sim, ProvisionedCapacityServesNAtOnceAndQueuesTheRest) {
  start("endpoints:\n  gpu: {listen: 127.0.0.1:0, max_concurrency: 1, tokens_per_second: 20}\n");
  HttpClient first(port_);
  ASSERT_EQ(
      first.start("/v1/chat/completions", R"({"model":"m","max_tokens":10,"stream":true})").status,
      200u);
  Response second;
  std::thread waiting([&] { second = HttpClient(port_).post("/v1/chat/completions", kChat); });
  EXPECT_TRUE(eventually([&] { return stats("gpu")["queued"] == 1; }));
  EXPECT_EQ(stats("gpu")["generating"], 1);
  while (first.next_piece()) {
  }
  waiting.join();
  EXPECT_EQ(second.status, 200u);
  EXPECT_EQ(stats("gpu")["queued"], 0);
  EXPECT_EQ(stats("gpu")["generating"], 0);
}

TEST_F(Sim, ScaleToZeroEndpointColdStartsOnlyAfterIdling) {
  start("endpoints:\n  cloud: {listen: 127.0.0.1:0, cold_start: 50ms, cold_after_idle: 1h}\n");
  HttpClient client(port_);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(client.post("/v1/chat/completions", kChat).status, 200u);
  EXPECT_EQ(stats("cloud")["cold_starts"], 1);  // the first request woke it; it stayed warm
}

TEST_F(Sim, InjectsFailuresAsConfigured) {
  start(
      "endpoints:\n  flaky: {listen: 127.0.0.1:0, fail_first: 2, fail_first_status: 503, "
      "rate_429: 0.5, retry_after: 7}\n");
  HttpClient client(port_);
  std::vector<unsigned> statuses;
  std::string retry_after;
  for (int i = 0; i < 6; ++i) {
    const Response res = client.post("/v1/chat/completions", kChat);
    statuses.push_back(res.status);
    if (res.status == 429) retry_after = res.header("retry-after");
  }
  // Two injected 503s, then every second request is rate limited.
  EXPECT_EQ(statuses, (std::vector<unsigned>{503, 503, 200, 429, 200, 429}));
  EXPECT_EQ(retry_after, "7");
}

TEST_F(Sim, ServesSeveralEndpointsOnOnePortByPrefix) {
  start("endpoints:\n  a: {listen: 127.0.0.1:0}\n");  // learn a free port, then reuse it
  const std::uint16_t port = port_;
  sim_.reset();
  start("endpoints:\n  a: {listen: 127.0.0.1:" + std::to_string(port) +
        ", prefix: /a, completion_tokens: 1}\n"
        "  b: {listen: 127.0.0.1:" +
        std::to_string(port) + ", prefix: /b, completion_tokens: 2}\n");
  const std::string body = R"({"model":"m","messages":[]})";
  EXPECT_EQ(
      json::parse(
          HttpClient(port).post("/a/v1/chat/completions", body).body)["usage"]["completion_tokens"],
      1);
  EXPECT_EQ(
      json::parse(
          HttpClient(port).post("/b/v1/chat/completions", body).body)["usage"]["completion_tokens"],
      2);
  EXPECT_EQ(HttpClient(port).post("/c/v1/chat/completions", body).status, 404u);
}

}  // namespace
}  // namespace fulcrum::testing
