// A minute of mixed traffic against upstreams that reset, stall and fail, with the config
// reloaded every two seconds. Afterwards nothing may be left behind: every request answered
// (or its stream ended in-band) and metered exactly once, no budget money or capacity slot
// still held, no upstream socket lingering, memory flat after warm-up, and (in the sanitizer
// pass) no report. ctest label `soak`; about 60 s.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/sockets.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kDuration = std::chrono::seconds(60);
constexpr auto kWarmUp = std::chrono::seconds(15);
constexpr int kClients = 40;
constexpr double kRatePerClient = 5;  // 40 x 5 = 200 requests per second

constexpr const char* kSim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, ttft: 20ms, tokens_per_second: 400, max_concurrency: 8,
          reset_every: 11, stall_every: 13, fail_every: 7}
  cloud: {listen: 127.0.0.1:0, ttft: 10ms, tokens_per_second: 800, fail_every: 17}
)";

// sha256("soak-key"), as `printf %s soak-key | fulcrum keys hash` prints it.
constexpr const char* kKeyHash = "4dd069bee50104e4f4abb22e8f40964c3a5bb3db0fcc01e236cc120a12ea6400";

// Every reload changes the cloud's price, so each one is a real swap of the snapshot.
std::string gateway(int generation) {
  return R"(server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  threads: 2
  usage_drain_timeout: 1s
  upstream_idle_ttl: 2s
  limits: {max_body_bytes: 65536}
endpoints:
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 8}
    timeouts: {first_byte: 2s, idle: 400ms}
    circuit_breaker: {failures: 50, cooldown: 1s}
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    timeouts: {first_byte: 2s, idle: 400ms}
    circuit_breaker: {failures: 50, cooldown: 1s}
    pricing: {m: {input: )" +
         std::to_string(1 + generation % 2) + R"(, output: 2}}
models:
  m: {targets: [gpu/m, cloud/m]}
keys:
  - {id: app, sha256: )" +
         std::string(kKeyHash) + R"(, tpm: 100000000, rpm: 1000000}
budgets:
  - {name: all, hard_usd: 100000}
)";
}

std::string chat(int i, bool stream, const std::string& extra = "") {
  return R"({"model":"m","max_tokens":)" + std::to_string(4 + i % 12) +
         (stream ? R"(,"stream":true)" : "") + extra +
         R"(,"messages":[{"role":"user","content":"soak test request"}]})";
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

struct Tally {
  std::mutex mutex;
  int sent = 0;
  int oversized = 0;   // refused by the connection loop (413): never a request to meter
  int unanswered = 0;  // no status, or a stream that ended neither with [DONE] nor an error
  std::vector<std::string> problems;

  void fail(const std::string& what) {
    const std::lock_guard lock(mutex);
    ++unanswered;
    if (problems.size() < 20) problems.push_back(what);
  }
};

// One request of the mix, by its number: plain, streamed, a stream the client leaves,
// malformed JSON, a wrongly typed field, an oversized body.
void one_request(std::uint16_t port, int i, Tally& tally) try {
  HttpClient client(port);
  const std::map<std::string, std::string> keyed{{"authorization", "Bearer soak-key"}};
  const bool with_key = i % 2 == 0;
  Response res;
  switch (i % 10) {
    case 0:
    case 1:
    case 2:
    case 3:
      res = client.post("/v1/chat/completions", chat(i, false),
                        with_key ? keyed : std::map<std::string, std::string>{});
      break;
    case 4:
    case 5: {
      res = client.start("/v1/chat/completions", chat(i, true));
      if (res.status != 200) break;
      std::string body;
      while (auto piece = client.next_piece()) body += *piece;
      const bool done = body.find("data: [DONE]") != std::string::npos;
      const bool ended_in_band = body.find("\"error\"") != std::string::npos;
      if (client.broken() || (!done && !ended_in_band)) {
        tally.fail("stream " + std::to_string(i) + " ended without [DONE] or an error event");
      }
      break;
    }
    case 6:  // leaves after the head: the gateway still reads the usage
      res = client.start("/v1/chat/completions", chat(i, true));
      break;
    case 7:
      res = client.post("/v1/chat/completions", R"({"model":"m","messages":[)");
      if (res.status != 400) tally.fail("malformed body got " + std::to_string(res.status));
      break;
    case 8:
      res = client.post("/v1/chat/completions", chat(i, true, R"(,"stream_options":"x")"));
      if (res.status != 400) tally.fail("wrong type got " + std::to_string(res.status));
      break;
    default: {
      const std::string big(70000, 'x');
      res = client.post("/v1/chat/completions",
                        R"({"model":"m","messages":[{"role":"user","content":")" + big + "\"}]}");
      if (res.status != 413) tally.fail("oversized got " + std::to_string(res.status));
      const std::lock_guard lock(tally.mutex);
      ++tally.oversized;
      break;
    }
  }
  if (res.status == 0) tally.fail("request " + std::to_string(i) + " got no response");
  const std::lock_guard lock(tally.mutex);
  ++tally.sent;
} catch (const std::exception& e) {
  // A dropped connection: the one thing that must never happen.
  tally.fail("request " + std::to_string(i) + ": " + e.what());
  const std::lock_guard lock(tally.mutex);
  ++tally.sent;
}

// The sum of every sample of `name` whose labels contain `labels` ("outcome=\"timeout\"").
double sum_of(const std::string& exposition, const std::string& name,
              const std::string& labels = "") {
  double total = 0;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "{", 0) != 0) continue;
    if (!labels.empty() && line.find(labels) == std::string::npos) continue;
    total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

TEST(Soak, AMinuteOfFaultsAndReloadsLeavesNothingBehind) {
  Stack stack(kSim, gateway(0));
  stack.add_secret("soak-key");
  const pid_t pid = stack.gateway().pid();
  Tally tally;
  std::atomic<int> next{0};
  std::atomic<bool> stop{false};
  const auto start = Clock::now();

  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      const auto period = std::chrono::duration<double>(1.0 / kRatePerClient);
      auto due = start + std::chrono::milliseconds(c * 5);
      while (!stop) {
        std::this_thread::sleep_until(due);  // pacing, not synchronisation
        one_request(stack.port(), next++, tally);
        due += std::chrono::duration_cast<Clock::duration>(period);
      }
    });
  }
  long warm_rss = -1;
  for (int generation = 1; Clock::now() - start < kDuration; ++generation) {
    std::this_thread::sleep_until(start + std::chrono::seconds(2 * generation));  // pacing
    stack.rewrite_config(gateway(generation));
    if (warm_rss < 0 && Clock::now() - start >= kWarmUp) warm_rss = rss_kib(pid);
  }
  stop = true;
  for (auto& client : clients) client.join();

  EXPECT_EQ(tally.unanswered, 0);
  for (const auto& problem : tally.problems) ADD_FAILURE() << problem;
  EXPECT_GT(tally.sent, 60 * 200 * 8 / 10) << "the load generator fell behind";

  // Nothing held: budget money, capacity slots, upstream sockets.
  EXPECT_TRUE(eventually([&] {
    return stack.metric("fulcrum_budget_reserved_usd", {{"budget", "all"}}) == 0;
  }));
  EXPECT_TRUE(eventually([&] {
    const json endpoints = json::parse(stack.admin("GET", "/admin/endpoints").body);
    return endpoints["gpu"]["in_flight"] == 0 && endpoints["cloud"]["in_flight"] == 0;
  }));
  for (const char* sim : {"gpu", "cloud"}) {
    EXPECT_TRUE(eventually([&] {
      return connections_to(pid, stack.sim_port(sim), "CLOSE_WAIT") == 0;
    })) << sim;
    // Idle past upstream_idle_ttl: every pooled connection is closed too.
    EXPECT_TRUE(eventually([&] { return connections_to(pid, stack.sim_port(sim)) == 0; })) << sim;
  }
  // Every request that reached the data plane's handler metered exactly once.
  const std::string metrics = stack.metrics();
  EXPECT_EQ(sum_of(metrics, "fulcrum_requests_total"), tally.sent - tally.oversized);
  // And the faults did happen: fallbacks from resets and 5xx, streams cut by stalls, reloads.
  EXPECT_GT(sum_of(metrics, "fulcrum_fallbacks_total"), 100);
  EXPECT_GT(sum_of(metrics, "fulcrum_requests_total", "outcome=\"timeout\""), 0);
  EXPECT_GE(stack.metric("fulcrum_config_reloads_total", {{"result", "success"}}), 25);
  std::cout << "soak: " << tally.sent << " requests (" << tally.oversized << " oversized), "
            << sum_of(metrics, "fulcrum_fallbacks_total") << " fallbacks, RSS after warm-up "
            << warm_rss << " KiB, at the end " << rss_kib(pid) << " KiB\n";

#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's quarantine holds freed memory back: RSS says nothing there.
  std::cout << "RSS after warm-up " << warm_rss << " KiB, at the end " << rss_kib(pid) << " KiB\n";
#else
  ASSERT_GT(warm_rss, 0);
  EXPECT_LE(rss_kib(pid), warm_rss * 11 / 10)
      << "RSS grew more than 10% after warm-up: " << warm_rss << " KiB then " << rss_kib(pid);
#endif
  for (const auto& line : stack.gateway_lines()) {
    EXPECT_EQ(line.find("request_failed"), std::string::npos) << line;
    EXPECT_EQ(line.find("coroutine_failed"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace fulcrum::testing
