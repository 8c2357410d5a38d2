// `fulcrum replay` on a ledger written by a real gateway in front of fulcrum-sim: the recorded
// policy replayed predicts the split it actually made and its cost; a what-if with more slots
// predicts no spill; a missing ledger and a broken config are clear errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../support/background.hpp"
#include "../support/http_client.hpp"
#include "../support/process.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

// The unit generates 2 at a time at 100 tokens/s after 50 ms: a 20-token stream holds a slot
// for about 250 ms.
constexpr const char* kSim =
    "endpoints:\n"
    "  gpu: {listen: 127.0.0.1:0, ttft: 50ms, tokens_per_second: 100, max_concurrency: 2}\n"
    "  cloud: {listen: 127.0.0.1:0, ttft: 20ms, tokens_per_second: 200}\n";

constexpr const char* kGateway = R"(slo_classes:
  standard: {priority: 50, ttft: 2s, e2e: 60s, max_queue_wait: 0ms}
endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {m: {input: 1.0, output: 2.0}}
    latency: {ttft: 20ms, per_output_token: 5ms}
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 3.6
    capacity: {max_concurrency: 2}
    latency: {ttft: 50ms, per_output_token: 10ms}
models:
  llama: {targets: [cloud/m, gpu/llama]}
)";

const std::map<std::string, std::string> kStandard{{"x-fulcrum-priority", "standard"}};

std::string chat() {
  return json{{"model", "llama"},
              {"max_tokens", 20},
              {"stream", true},
              {"messages", {{{"role", "user"}, {"content", "one two three four"}}}}}
      .dump();
}

struct Command {
  int status = -1;
  std::string output;  // standard output and error
};

Command fulcrum(const std::vector<std::string>& args) {
  std::vector<std::string> argv{fulcrum_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process process(argv);
  Command run;
  const int status = process.wait_exit(std::chrono::seconds(60));
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  for (const auto& line : process.lines()) run.output += line + "\n";
  return run;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(kSim, kGateway);
    {
      // A burst of six: two take the unit's slots, the rest spill to the cloud.
      std::vector<std::unique_ptr<Background>> burst;
      for (int i = 0; i < 6; ++i) {
        burst.push_back(std::make_unique<Background>(stack_->port(), chat(), kStandard));
      }
      for (auto& request : burst) count(request->response());
    }
    stack_->stop_gateway();  // the ledger is flushed
    ASSERT_EQ(on_gpu_ + on_cloud_, 6);
  }

  void count(const Response& response) {
    ASSERT_EQ(response.status, 200u) << response.body;
    (response.header("x-fulcrum-endpoint") == "gpu" ? on_gpu_ : on_cloud_) += 1;
  }

  // `fulcrum replay` of the ledger under `policy`, as JSON.
  json replay(const std::string& policy) {
    const std::string out = dir() + "/replay.json";
    const Command run = fulcrum({"replay", "--config", policy, "--ledger", stack_->ledger_path(),
                                 "--format", "json", "--out", out});
    EXPECT_EQ(run.status, 0) << run.output;
    return read_json(out);
  }

  std::string dir() const { return std::filesystem::path(stack_->ledger_path()).parent_path(); }

  std::unique_ptr<Stack> stack_;
  int on_gpu_ = 0;
  int on_cloud_ = 0;
};

TEST_F(ReplayTest, TheRecordedPolicyPredictsTheSplitAndCostItMade) {
  EXPECT_GT(on_cloud_, 0);  // the unit's two slots could not take the burst
  const json r = replay(stack_->config_path());
  EXPECT_EQ(r["schema"], "fulcrum.replay/v1");
  EXPECT_EQ(r["period"]["rows"], 6);
  EXPECT_EQ(r["period"]["replayed"], 6);
  EXPECT_EQ(r["period"]["unknown_alias_requests"], 0);
  ASSERT_EQ(r["classes"].size(), 1u);
  const json& standard = r["classes"][0];
  EXPECT_EQ(standard["slo_class"], "standard");
  EXPECT_EQ(standard["actual"]["requests"], 6);
  EXPECT_EQ(standard["actual"]["provisioned"], on_gpu_);
  EXPECT_EQ(standard["actual"]["serverless"], on_cloud_);
  // The replay makes the same decisions: the same number of requests on each endpoint, so the
  // same serverless tokens at the same prices.
  EXPECT_EQ(standard["predicted"]["provisioned"], on_gpu_);
  EXPECT_EQ(standard["predicted"]["serverless"], on_cloud_);
  EXPECT_EQ(standard["predicted"]["spilled"], on_cloud_);
  EXPECT_EQ(standard["predicted"]["attainment_percent"], 100);
  EXPECT_EQ(standard["actual"]["attainment_percent"], 100);
  EXPECT_NEAR(r["total"]["predicted"]["serverless_usd"].get<double>(),
              r["total"]["actual"]["serverless_usd"].get<double>(), 1e-9);
  EXPECT_GT(r["total"]["actual"]["serverless_usd"].get<double>(), 0);
  // The unit's hourly price over the period, in both columns (priced by the policy's gpu).
  const double hours = r["period"]["hours"];
  EXPECT_NEAR(r["total"]["predicted"]["provisioned_usd"].get<double>(), 3.6 * hours, 1e-9);
  EXPECT_NEAR(r["total"]["actual"]["provisioned_usd"].get<double>(), 3.6 * hours, 1e-9);
  EXPECT_EQ(r["total"]["actual_units_priced_by"], "policy");
  // The unit as the ledger showed it: 50 ms to the first token, 10 ms a token.
  const json* gpu = nullptr;
  for (const json& e : r["endpoints"]) {
    if (e["name"] == "gpu") gpu = &e;
  }
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ((*gpu)["model"]["ttft_rows"], on_gpu_);
  EXPECT_EQ((*gpu)["model"]["slots"], 2);
  EXPECT_GE((*gpu)["model"]["ttft_seconds"].get<double>(), 0.05);
  EXPECT_LT((*gpu)["model"]["ttft_seconds"].get<double>(), 0.5);
  EXPECT_NEAR((*gpu)["model"]["seconds_per_output_token"].get<double>(), 0.01, 0.005);
  EXPECT_EQ((*gpu)["requests"], on_gpu_);
}

TEST_F(ReplayTest, AWhatIfWithMoreSlotsPredictsNoSpill) {
  std::ifstream in(stack_->config_path());
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  const auto at = yaml.find("max_concurrency: 2");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, 18, "max_concurrency: 8");
  const std::string what_if = dir() + "/eight-slots.yaml";
  std::ofstream(what_if) << yaml;
  const json r = replay(what_if);
  const json& standard = r["classes"][0];
  EXPECT_EQ(standard["predicted"]["provisioned"], 6);
  EXPECT_EQ(standard["predicted"]["serverless"], 0);
  EXPECT_EQ(r["total"]["predicted"]["serverless_usd"], 0);
  EXPECT_EQ(standard["actual"]["serverless"], on_cloud_);  // what happened stays
}

TEST_F(ReplayTest, TextAndHtmlShowBothColumns) {
  const Command text =
      fulcrum({"replay", "--config", stack_->config_path(), "--ledger", stack_->ledger_path()});
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("Fulcrum replay: "), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("6 of 6 ledger rows replayed"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("standard"), std::string::npos) << text.output;
  const std::string html = dir() + "/replay.html";
  const Command page = fulcrum({"replay", "--config", stack_->config_path(), "--ledger",
                                stack_->ledger_path(), "--format", "html", "--out", html});
  EXPECT_EQ(page.status, 0) << page.output;
  std::ifstream in(html);
  std::stringstream body;
  body << in.rdbuf();
  EXPECT_NE(body.str().find("<svg class=\"cost-chart\""), std::string::npos);
  EXPECT_NE(body.str().find("<td>predicted</td>"), std::string::npos);
}

TEST_F(ReplayTest, AMissingLedgerAndABrokenConfigAreClearErrors) {
  const Command missing = fulcrum(
      {"replay", "--config", stack_->config_path(), "--ledger", dir() + "/no-such-ledger.db"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("no ledger at " + dir() + "/no-such-ledger.db"), std::string::npos)
      << missing.output;
  EXPECT_FALSE(std::filesystem::exists(dir() + "/no-such-ledger.db"));
  const std::string broken = dir() + "/broken.yaml";
  std::ofstream(broken) << "version: 1\nendpoints:\n  gpu: {kind: provisioned, hourly: 2}\n";
  const Command bad = fulcrum({"replay", "--config", broken, "--ledger", stack_->ledger_path()});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.output.find(broken + ":3:"), std::string::npos) << bad.output;
  const Command usage = fulcrum({"replay", "--ledger", stack_->ledger_path()});
  EXPECT_EQ(usage.status, 2);
  EXPECT_NE(usage.output.find("--config is needed"), std::string::npos) << usage.output;
}

}  // namespace
}  // namespace fulcrum::testing
