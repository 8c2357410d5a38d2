// The usage ledger end to end: rows for every request that reached an upstream, exact usage
// for streams the client abandoned, nothing lost at SIGTERM, at most a batch window at SIGKILL.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

std::string chat(const std::string& model, int max_tokens, bool stream = false) {
  return json{{"model", model},
              {"max_tokens", max_tokens},
              {"stream", stream},
              {"messages", {{{"role", "user"}, {"content", "one two three four"}}}}}
      .dump();
}

constexpr const char* kGateway = R"(endpoints:
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 8}
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
  broken:
    kind: serverless
    base_url: http://${closed}/v1
    pricing: {m: {input: 1, output: 1}}
models:
  llama-8b: {targets: [gpu/llama, cloud/gpt-4o-mini]}
  mini: {targets: [cloud/gpt-4o-mini]}
  nowhere: {targets: [broken/m]}
)";

std::int64_t sum(const std::vector<json>& rows, const char* column) {
  std::int64_t total = 0;
  for (const json& row : rows) total += row[column].get<std::int64_t>();
  return total;
}

// The single row of the test's one request, once the writer has committed it.
json only_ledger_row(const Stack& stack) {
  EXPECT_TRUE(eventually([&] { return ledger_rows(stack.ledger_path()).size() == 1; }));
  const auto rows = ledger_rows(stack.ledger_path());
  return rows.size() == 1 ? rows[0] : json::object();
}

TEST(Ledger, EveryRequestThatReachedAnUpstreamHasOneRowWithItsExactUsage) {
  Stack stack(R"(endpoints:
  gpu: {listen: 127.0.0.1:0, fail_first: 1, fail_first_status: 503}
  cloud: {listen: 127.0.0.1:0}
)",
              kGateway);
  HttpClient client(stack.port());
  // A fallback (the GPU fails its first request), two plain, two streams, one that fails
  // everywhere, and one that never reaches an upstream.
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama-8b", 5)).header("x-fulcrum-endpoint"),
            "cloud");
  EXPECT_EQ(client.post("/v1/chat/completions", chat("llama-8b", 6)).status, 200u);
  EXPECT_EQ(client.post("/v1/chat/completions", chat("mini", 7)).status, 200u);
  for (int tokens : {8, 9}) {
    HttpClient streamer(stack.port());
    ASSERT_EQ(streamer.start("/v1/chat/completions", chat("mini", tokens, true)).status, 200u);
    while (streamer.next_piece()) {
    }
  }
  EXPECT_EQ(client.post("/v1/chat/completions", chat("nowhere", 3)).status, 502u);
  EXPECT_EQ(client.post("/v1/chat/completions", "{not json").status, 400u);

  stack.stop_gateway();  // SIGTERM: every queued row is committed before exit
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(sum(rows, "output_tokens"), 5 + 6 + 7 + 8 + 9);
  EXPECT_EQ(sum(rows, "input_tokens"), 5 * 4);  // the sim counts the four prompt words
  EXPECT_EQ(rows[0]["attempts"], 2);
  EXPECT_EQ(rows[0]["endpoint"], "cloud");
  EXPECT_EQ(rows[1]["endpoint"], "gpu");
  EXPECT_EQ(rows[1]["endpoint_kind"], "provisioned");
  EXPECT_EQ(rows[1]["cost_nano_usd"], 0);
  // cloud: 4 input tokens at 0.15 and 7 output tokens at 0.60 per million.
  EXPECT_EQ(rows[2]["cost_nano_usd"], 4 * 150 + 7 * 600);
  EXPECT_EQ(rows[5]["outcome"], "upstream_error");
  EXPECT_EQ(rows[5]["status"], 502);
  EXPECT_EQ(rows[5]["output_tokens"], 0);
  for (const json& row : rows) {
    EXPECT_EQ(row["key_id"], "anonymous");
    EXPECT_EQ(row["estimated"], 0);
    EXPECT_EQ(row["request_id"].get<std::string>().size(), 24u);
    EXPECT_GE(row["finished_ms"].get<std::int64_t>(), row["started_ms"].get<std::int64_t>());
  }
  // The ledger is closed once at exit, and says so once.
  const auto lines = stack.gateway_lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& line) {
                            return line.find("ledger_closed") != std::string::npos;
                          }),
            1);
}

TEST(Ledger, AStreamTheClientLeftIsStillMeteredWithTheUpstreamsExactUsage) {
  Stack stack(R"(endpoints:
  gpu: {listen: 127.0.0.1:0}
  cloud: {listen: 127.0.0.1:0, tokens_per_second: 40}
)",
              kGateway);
  {
    HttpClient client(stack.port());
    ASSERT_EQ(client.start("/v1/chat/completions", chat("mini", 60, true)).status, 200u);
    ASSERT_TRUE(client.next_piece());
    ASSERT_TRUE(client.next_piece());
  }  // the client hangs up after two pieces of a 1.5 s stream
  const json row = only_ledger_row(stack);
  EXPECT_EQ(row["outcome"], "client_closed");
  EXPECT_EQ(row["output_tokens"], 60);
  EXPECT_EQ(row["estimated"], 0);
  EXPECT_EQ(row["cost_nano_usd"], 4 * 150 + 60 * 600);
  EXPECT_EQ(stack.sim_stats()["cloud"]["streams_active"], 0);
  EXPECT_EQ(stack.metric("fulcrum_tokens_total", {{"endpoint", "cloud"}, {"type", "output"}}), 60);
}

TEST(Ledger, WithoutReportedUsageTokensAreEstimatedAndFlagged) {
  // The sim leaves usage out of streams unless asked; a cut stream never gets to it.
  Stack stack(R"(endpoints:
  gpu: {listen: 127.0.0.1:0}
  cloud: {listen: 127.0.0.1:0, cut_after_chunks: 3}
)",
              kGateway);
  HttpClient client(stack.port());
  ASSERT_EQ(client.start("/v1/chat/completions", chat("mini", 20, true)).status, 200u);
  while (client.next_piece()) {
  }
  const json row = only_ledger_row(stack);
  EXPECT_EQ(row["outcome"], "upstream_error");
  EXPECT_EQ(row["estimated"], 1);
  EXPECT_GT(row["output_tokens"], 0);
  EXPECT_LT(row["output_tokens"], 20);
  EXPECT_GT(row["cost_nano_usd"], 0);
}

TEST(Ledger, AHardKillLosesAtMostTheLastBatchWindow) {
  Stack stack("endpoints: {gpu: {listen: 127.0.0.1:0}, cloud: {listen: 127.0.0.1:0}}", kGateway);
  struct Done {
    std::string id;
    std::chrono::steady_clock::time_point at;
  };
  std::vector<Done> done;
  std::mutex done_mutex;
  std::atomic<bool> stop{false};
  std::thread load([&] {
    try {
      HttpClient client(stack.port());
      while (!stop) {
        const Response res = client.post("/v1/chat/completions", chat("mini", 2));
        if (res.status != 200) break;
        const std::lock_guard lock(done_mutex);
        done.push_back({res.header("x-fulcrum-request-id"), std::chrono::steady_clock::now()});
      }
    } catch (const std::exception&) {
      // The gateway was killed mid-request: expected.
    }
  });
  // Load for over a second, so many requests completed well before the kill.
  ASSERT_TRUE(eventually(
      [&] {
        const std::lock_guard lock(done_mutex);
        return done.size() > 100 &&
               std::chrono::steady_clock::now() - done.front().at > std::chrono::seconds(1);
      },
      std::chrono::seconds(30)));
  const auto killed_at = std::chrono::steady_clock::now();
  stack.kill_gateway();
  stop = true;
  load.join();

  std::set<std::string> stored;
  for (const json& row : ledger_rows(stack.ledger_path())) stored.insert(row["request_id"]);
  // The documented bound: one batch window (50 ms), plus the commit itself.
  const auto bound = std::chrono::milliseconds(50 + 250);
  int checked = 0;
  for (const Done& d : done) {
    if (d.at > killed_at - bound) continue;
    ++checked;
    EXPECT_EQ(stored.count(d.id), 1u) << d.id;
  }
  EXPECT_GT(checked, 50);
}

TEST(LedgerExport, CsvAndJsonLinesFromTheCommandLine) {
  Stack stack("endpoints: {gpu: {listen: 127.0.0.1:0}, cloud: {listen: 127.0.0.1:0}}", kGateway);
  HttpClient client(stack.port());
  ASSERT_EQ(client.post("/v1/chat/completions", chat("mini", 3)).status, 200u);
  ASSERT_EQ(client.post("/v1/chat/completions", chat("llama-8b", 4)).status, 200u);
  stack.stop_gateway();

  Process csv({fulcrum_binary(), "ledger", "export", "--ledger", stack.ledger_path(), "--since",
               "24h", "--format", "csv"});
  EXPECT_EQ(csv.wait_exit(), 0);
  const auto lines = csv.lines();
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0].substr(0, 30), "request_id,started_ms,finished");
  EXPECT_NE(lines[1].find(",mini,default,standard,cloud,serverless,gpt-4o-mini,"),
            std::string::npos)
      << lines[1];

  Process future({fulcrum_binary(), "ledger", "export", "--ledger", stack.ledger_path(), "--since",
                  "2999-01-01", "--format", "jsonl"});
  EXPECT_EQ(future.wait_exit(), 0);
  EXPECT_EQ(future.lines(), std::vector<std::string>{"0 rows"});
}

}  // namespace
}  // namespace fulcrum::testing
