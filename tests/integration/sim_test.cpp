// fulcrum-sim itself: the behaviours the demo, the tests and the benchmark rely on.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/temp_dir.hpp"
#include "engine_load.hpp"

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
  // The endpoint's /metrics as the gateway's scraper reads it; nullopt unless a 200 with the
  // Prometheus text content type.
  std::optional<net::EngineLoad> scrape(config::EngineFormat format,
                                        const std::string& path = "/metrics") {
    const Response res = HttpClient(port_).get(path);
    if (res.status != 200 ||
        res.header("content-type").rfind("text/plain; version=0.0.4", 0) != 0) {
      return std::nullopt;
    }
    return net::parse_engine_metrics(res.body, format);
  }
  unsigned inject(const std::string& body, const std::string& prefix = "") {
    return HttpClient(port_).post(prefix + "/sim/engine_load", body).status;
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

// ---------------------------------------------------------------------------------------------
// The serving engine an endpoint plays (engine_metrics): its /metrics, read with the gateway's
// own parser, follows the requests the sim really holds, queues and generates.

struct Engine {
  const char* name;
  config::EngineFormat format;
};
constexpr std::array<Engine, 3> kEngines = {Engine{"vllm", config::EngineFormat::vllm},
                                            Engine{"sglang", config::EngineFormat::sglang},
                                            Engine{"tgi", config::EngineFormat::tgi}};

// Whether a reading says exactly this; TGI reports no KV-cache usage at all.
bool reads(const std::optional<net::EngineLoad>& load, config::EngineFormat format, double running,
           double waiting, double kv_cache_usage) {
  if (!load || load->running != running || load->waiting != waiting) return false;
  if (format == config::EngineFormat::tgi) return !load->kv_cache_usage;
  return load->kv_cache_usage == kv_cache_usage;
}

constexpr const char* kStream = R"({"model":"m","max_tokens":10,"stream":true})";

TEST_F(Sim, EngineMetricsCountHeldQueuedAndGeneratingRequestsAndInjectedLoad) {
  for (const Engine& engine : kEngines) {
    SCOPED_TRACE(engine.name);
    const config::EngineFormat f = engine.format;
    // Two slots; a stream stalls before its first word and keeps its slot until its client
    // hangs up, so what generates is up to the test.
    start(std::string("endpoints:\n  gpu: {listen: 127.0.0.1:0, engine_metrics: ") + engine.name +
          ", max_concurrency: 2, hold: true, stall_after_chunks: 0}\n");
    EXPECT_TRUE(reads(scrape(f), f, 0, 0, 0));

    std::array<std::unique_ptr<HttpClient>, 3> clients;
    std::array<std::atomic<bool>, 3> answered{};
    std::array<std::thread, 3> starts;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      clients[i] = std::make_unique<HttpClient>(port_);
      starts[i] = std::thread([&, i] {
        answered[i] = clients[i]->start("/v1/chat/completions", kStream).status == 200;
      });
    }
    const auto answers = [&] {
      return std::count_if(answered.begin(), answered.end(),
                           [](const auto& a) { return a.load(); });
    };
    // At the gate, all three have arrived and none generates.
    EXPECT_TRUE(eventually([&] { return reads(scrape(f), f, 0, 3, 0); }));
    ASSERT_EQ(HttpClient(port_).post("/sim/release", "").status, 200u);
    // Two take the slots (the cache is full), the third queues behind them.
    EXPECT_TRUE(eventually([&] { return reads(scrape(f), f, 2, 1, 1); }));
    ASSERT_TRUE(eventually([&] { return answers() == 2; }));
    // One hangs up: the queued one takes its slot.
    const std::size_t first = answered[0] ? 0 : 1;
    starts[first].join();
    clients[first].reset();
    EXPECT_TRUE(eventually([&] { return answers() == 3 && reads(scrape(f), f, 2, 0, 1); }));

    // Other clients of the same GPU: counts add up, the fuller cache wins.
    EXPECT_EQ(inject(R"({"running": 4, "waiting": 5, "kv_cache_usage": 0.5})"), 200u);
    EXPECT_TRUE(reads(scrape(f), f, 6, 5, 1));
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (i == first) continue;
      starts[i].join();
      clients[i].reset();
    }
    EXPECT_TRUE(eventually([&] { return reads(scrape(f), f, 4, 5, 0.5); }));
    EXPECT_EQ(inject("{}"), 200u);
    EXPECT_TRUE(reads(scrape(f), f, 0, 0, 0));
    EXPECT_EQ(stats("gpu")["requests"], 3);  // scrapes are not requests
  }
}

TEST_F(Sim, EngineMetricsCanFailSoStalenessCanBeTested) {
  const auto vllm = config::EngineFormat::vllm;
  start("endpoints:\n  gpu: {listen: 127.0.0.1:0, engine_metrics: vllm, fail_metrics: true}\n");
  EXPECT_EQ(HttpClient(port_).get("/metrics").status, 503u);
  EXPECT_EQ(inject(R"({"fail": false})"), 200u);
  EXPECT_TRUE(reads(scrape(vllm), vllm, 0, 0, 0));
  EXPECT_EQ(inject("{}"), 200u);  // back to the endpoint's own setting
  EXPECT_EQ(HttpClient(port_).get("/metrics").status, 503u);
  // What the sim cannot take is refused and changes nothing.
  for (const char* body : {"", "[]", R"({"running": -1})", R"({"waiting": "2"})",
                           R"({"kv_cache_usage": 1.5})", R"({"queued": 1})", R"({"fail": 1})"}) {
    EXPECT_EQ(inject(body), 400u) << body;
  }
  EXPECT_EQ(HttpClient(port_).get("/metrics").status, 503u);
}

TEST_F(Sim, EngineMetricsAreServedBelowEachEndpointsPrefix) {
  start("endpoints:\n  a: {listen: 127.0.0.1:0}\n");  // learn a free port, then reuse it
  const std::string listen = "{listen: 127.0.0.1:" + std::to_string(port_);
  sim_.reset();
  start("endpoints:\n  a: " + listen + ", prefix: /a, engine_metrics: sglang}\n  b: " + listen +
        ", prefix: /b, engine_metrics: tgi}\n  c: " + listen + ", prefix: /c}\n");
  const auto sglang = config::EngineFormat::sglang;
  const auto tgi = config::EngineFormat::tgi;
  EXPECT_EQ(inject(R"({"running": 3, "waiting": 1})", "/b"), 200u);
  EXPECT_TRUE(reads(scrape(sglang, "/a/metrics"), sglang, 0, 0, 0));
  EXPECT_TRUE(reads(scrape(tgi, "/b/metrics"), tgi, 3, 1, 0));
  EXPECT_FALSE(scrape(tgi, "/a/metrics"));                      // an SGLang page has no TGI names
  EXPECT_EQ(HttpClient(port_).get("/c/metrics").status, 404u);  // no engine_metrics
  EXPECT_EQ(HttpClient(port_).get("/metrics").status, 404u);    // no endpoint at the root
  EXPECT_EQ(inject(R"({"fail": true})", "/a"), 200u);
  EXPECT_EQ(HttpClient(port_).get("/a/metrics").status, 503u);
  EXPECT_TRUE(reads(scrape(tgi, "/b/metrics"), tgi, 3, 1, 0));
}

}  // namespace
}  // namespace fulcrum::testing
