// The breakeven report on a synthetic ledger with a known day/night shape, checked against
// numbers computed by hand; its JSON shape; and its HTML rendered by a real browser.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "../support/process.hpp"
#include "../support/stack.hpp"
#include "../support/temp_dir.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

// 2026-11-01T00:00:00Z.
constexpr std::int64_t kDayStartMs = 1793491200000;
constexpr std::int64_t kHourMs = 3600000;

// The shape: from 08:00 to 20:00 UTC nine requests an hour of 1M output tokens each, the other
// twelve hours one. Serverless output costs $2 per 1M, so a day hour costs $18, a night hour $2.
// One unit serves 1000 weighted tokens/s = 3.6M an hour for $3/h.
//   n=0: 12 x 18 + 12 x 2                            = $240.00
//   n=1: 24 x 3 + 12 x (9 - 3.6) x 2                 = $201.60
//   n=2: 24 x 6 + 12 x (9 - 7.2) x 2                 = $187.20  (the optimum)
//   n=3: 24 x 9, nothing spills                       = $216.00
//   n=4: 24 x 12                                       = $288.00
// At n=2: served 12 x 7.2M + 12 x 1M = 98.4M of 172.8M: utilization 0.569444;
// $144 / 98.4M tokens = $1.463415 per 1M. A unit pays for itself at $3 x 730 h / $2 per 1M =
// 1095M tokens a month; the third would serve 12 x 1.8M a day = 657M a month.
// The what-if unit at $2/h: n=1 $177.60, n=2 $139.20, n=3 $144.00.
// No request used the GPU: its $72 is idle, not attributed; chat's actual is its $240.
// Its commitments over the day, against $72 on demand (and $0 switched off: never busy):
//   1_month $2.40: $57.60, breakeven 19.2 h/day; curve n=1 $187.20, n=2 $158.40 (optimum),
//                  n=3 $172.80
//   6_month $1.90: $45.60, breakeven 15.2 h/day; curve n=2 $134.40 (optimum), n=3 $136.80
class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(config_path()) << R"(version: 1
endpoints:
  gpu:
    kind: provisioned
    base_url: http://127.0.0.1:1/v1
    hourly_usd: 3
    capacity: {output_tokens_per_second: 1000, input_token_weight: 0.25}
    commitments:
      1_month: {hourly_usd: 2.40}
      6_month: {hourly_usd: 1.90}
  cloud:
    kind: serverless
    base_url: http://127.0.0.1:2/v1
    pricing: {m: {input: 0.5, output: 2}}
models:
  chat: {targets: [gpu/llama, cloud/m]}
reports:
  candidates:
    - {name: spot-gpu, hourly_usd: 2, output_tokens_per_second: 1000}
ledger: {path: )" + dir_ + "/ledger.db}\n";
    auto store = metering::SqliteLedger::open(dir_ + "/ledger.db");
    ASSERT_TRUE(store) << store.error();
    std::vector<metering::LedgerRow> rows;
    for (int hour = 0; hour < 24; ++hour) {
      const int requests = hour >= 8 && hour < 20 ? 9 : 1;
      for (int i = 0; i < requests; ++i) {
        metering::LedgerRow row;
        row.set_request_id("r" + std::to_string(hour) + "-" + std::to_string(i));
        row.started_ms = kDayStartMs + hour * kHourMs + i * 60000;
        row.finished_ms = row.started_ms + 1000;
        row.alias = "chat";
        row.route = "default";
        row.slo_class = "standard";
        row.endpoint = "cloud";
        row.endpoint_kind = "serverless";
        row.upstream_model = "m";
        row.output_tokens = 1000000;
        row.cost = core::Money::from_usd(2);
        row.amortized_cost = row.cost;
        row.status = 200;
        row.outcome = "success";
        row.attempts = 1;
        rows.push_back(row);
      }
    }
    ASSERT_TRUE((*store)->append(rows));
  }

  std::string config_path() const { return dir_ + "/fulcrum.yaml"; }

  // Runs `fulcrum report` over the synthetic day; returns what it printed.
  std::string run(const std::string& format, const std::string& out = "") {
    std::vector<std::string> argv{fulcrum_binary(), "report",
                                  "--config",       config_path(),
                                  "--since",        "2026-11-01T00:00:00Z",
                                  "--until",        "2026-11-02T00:00:00Z",
                                  "--format",       format};
    if (!out.empty()) {
      argv.push_back("--out");
      argv.push_back(out);
    }
    Process report(argv);
    const int status = report.wait_exit();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::string text;
    for (const auto& line : report.lines()) text += line + "\n";
    return text;
  }

  testing::TempDir temp_{"report"};
  const std::string dir_ = temp_.path();
};

TEST_F(ReportTest, TheOptimumCostsAndBreakevenMatchTheHandComputedOnes) {
  const json report = json::parse(run("json"));
  EXPECT_EQ(report["schema"], "fulcrum.report/v1");
  EXPECT_EQ(report["period"]["hours"], 24);
  EXPECT_EQ(report["period"]["requests"], 12 * 9 + 12);
  EXPECT_NEAR(report["total"]["actual_usd"], 240 + 3 * 24, 1e-6);  // serverless + the idle GPU
  EXPECT_NEAR(report["total"]["all_serverless_usd"], 240, 1e-6);
  EXPECT_NEAR(report["total"]["best_usd"], 187.2, 1e-6);

  ASSERT_EQ(report["units"].size(), 1u);
  const json& gpu = report["units"][0];
  EXPECT_EQ(gpu["subject"], "gpu");
  const std::vector<double> expected{240, 201.6, 187.2, 216, 288};  // n=4: 24 x 12
  ASSERT_EQ(gpu["curve"].size(), expected.size());  // N: one past the 3 the peak needs
  for (std::size_t n = 0; n < expected.size(); ++n) {
    EXPECT_NEAR(gpu["curve"][n]["usd"], expected[n], 1e-6) << n << " units";
  }
  EXPECT_EQ(gpu["optimum"]["units"], 2);
  EXPECT_NEAR(gpu["optimum"]["usd"], 187.2, 1e-6);
  EXPECT_NEAR(gpu["optimum"]["monthly_usd"], 187.2 * 730 / 24, 1e-6);
  EXPECT_NEAR(gpu["optimum"]["monthly_saving_vs_serverless_usd"], (240 - 187.2) * 730 / 24, 1e-6);
  // The deployed unit's actual cost is its aliases' serverless spend plus its idle hours.
  EXPECT_NEAR(gpu["actual_usd"], 312, 1e-6);
  EXPECT_NEAR(gpu["optimum"]["monthly_saving_vs_actual_usd"], (312 - 187.2) * 730 / 24, 1e-6);
  EXPECT_NEAR(gpu["optimum"]["utilization"], 98.4 / 172.8, 1e-9);
  EXPECT_NEAR(gpu["optimum"]["effective_usd_per_million_tokens"], 144 / 98.4, 1e-9);
  EXPECT_NEAR(gpu["breakeven"]["tokens_per_month"], 1095e6, 1);
  EXPECT_NEAR(gpu["breakeven"]["next_unit_tokens_per_month"], 657e6, 1);
  EXPECT_NEAR(gpu["breakeven"]["traffic_tokens_per_month"], 120e6 * 730 / 24, 1);
  EXPECT_EQ(gpu["breakeven"]["next_unit_pays"], false);
  EXPECT_NEAR(gpu["weighted_tokens_by_hour_of_day"][8], 9e6, 1e-6);
  EXPECT_NEAR(gpu["weighted_tokens_by_hour_of_day"][3], 1e6, 1e-6);

  ASSERT_EQ(report["candidates"].size(), 1u);
  const json& spot = report["candidates"][0];
  EXPECT_EQ(spot["unit"]["deployed"], false);
  EXPECT_EQ(spot["optimum"]["units"], 2);
  EXPECT_NEAR(spot["curve"][1]["usd"], 177.6, 1e-6);
  EXPECT_NEAR(spot["optimum"]["usd"], 139.2, 1e-6);
  EXPECT_NEAR(spot["curve"][3]["usd"], 144, 1e-6);

  EXPECT_NEAR(report["aliases"][0]["actual_usd"], 240, 1e-6);
  EXPECT_NEAR(report["attribution"]["aliases_usd"], 240, 1e-6);
  EXPECT_NEAR(report["attribution"]["idle_not_attributed_usd"], 72, 1e-6);
  EXPECT_EQ(report["attribution"]["idle_not_attributed"][0]["endpoint"], "gpu");
  EXPECT_NEAR(gpu["reconciliation"]["aliases_actual_usd"], 240, 1e-6);
  EXPECT_NEAR(gpu["reconciliation"]["charged_outside_usd"], 72, 1e-6);

  ASSERT_EQ(report["commitments"].size(), 1u);
  const json& view = report["commitments"][0];
  EXPECT_EQ(view["endpoint"], "gpu");
  EXPECT_NEAR(view["on_demand"]["usd"], 72, 1e-6);
  EXPECT_NEAR(view["on_demand"]["busy_hours"], 0, 1e-6);
  EXPECT_NEAR(view["on_demand"]["switched_off_usd"], 0, 1e-6);
  EXPECT_EQ(view["on_demand"]["optimum_units"], 2);
  EXPECT_NEAR(view["on_demand"]["optimum_usd"], 187.2, 1e-6);
  const json& month = view["terms"][0];
  EXPECT_EQ(month["name"], "1_month");
  EXPECT_NEAR(month["usd"], 57.6, 1e-6);
  EXPECT_NEAR(month["saving_vs_on_demand_usd"], 14.4, 1e-6);
  EXPECT_NEAR(month["saving_vs_switched_off_usd"], -57.6, 1e-6);
  EXPECT_NEAR(month["breakeven_hours_per_day"], 19.2, 1e-6);
  EXPECT_EQ(month["optimum_units"], 2);
  EXPECT_NEAR(month["optimum_usd"], 158.4, 1e-6);
  const json& half_year = view["terms"][1];
  EXPECT_NEAR(half_year["usd"], 45.6, 1e-6);
  EXPECT_NEAR(half_year["breakeven_fraction_of_hours"], 1.9 / 3, 1e-9);
  EXPECT_EQ(half_year["optimum_units"], 2);
  EXPECT_NEAR(half_year["optimum_usd"], 134.4, 1e-6);
}

// Scripts read the JSON: its keys are a contract (new ones may be added, with a test change).
TEST_F(ReportTest, TheJsonShapeIsStable) {
  const json report = json::parse(run("json"));
  const auto keys = [](const json& object) {
    std::set<std::string> out;
    for (const auto& [key, value] : object.items()) out.insert(key);
    return out;
  };
  using Keys = std::set<std::string>;
  EXPECT_EQ(keys(report), (Keys{"schema", "period", "assumptions", "total", "aliases", "units",
                                "candidates", "attribution", "commitments"}));
  EXPECT_EQ(keys(report["period"]),
            (Keys{"since_ms", "until_ms", "hours", "requests", "unknown_alias_requests"}));
  EXPECT_EQ(keys(report["total"]),
            (Keys{"actual_usd", "all_serverless_usd", "best_usd", "actual_monthly_usd",
                  "best_monthly_usd", "monthly_saving_usd"}));
  const json& analysis = report["aliases"][0];
  EXPECT_EQ(keys(analysis),
            (Keys{"subject", "aliases", "unit", "requests", "input_tokens", "output_tokens",
                  "actual_usd", "actual_serverless_usd", "actual_provisioned_usd", "reconciliation",
                  "all_serverless_usd", "curve", "optimum", "breakeven",
                  "weighted_tokens_by_hour_of_day"}));
  EXPECT_EQ(keys(report["units"][0]["reconciliation"]),
            (Keys{"aliases_actual_usd", "charged_outside_usd", "aliases_other_units_usd"}));
  EXPECT_EQ(keys(report["attribution"]), (Keys{"aliases_usd", "unknown_aliases_usd",
                                               "idle_not_attributed_usd", "idle_not_attributed"}));
  EXPECT_EQ(keys(report["attribution"]["idle_not_attributed"][0]), (Keys{"endpoint", "usd"}));
  const json& commitment = report["commitments"][0];
  EXPECT_EQ(keys(commitment), (Keys{"endpoint", "on_demand", "terms"}));
  EXPECT_EQ(keys(commitment["on_demand"]),
            (Keys{"hourly_usd", "usd", "busy_hours", "busy_hours_per_day", "switched_off_usd",
                  "optimum_units", "optimum_usd"}));
  EXPECT_EQ(keys(commitment["terms"][0]),
            (Keys{"name", "hourly_usd", "usd", "saving_vs_on_demand_usd",
                  "saving_vs_switched_off_usd", "breakeven_hours_per_day",
                  "breakeven_fraction_of_hours", "optimum_units", "optimum_usd"}));
  EXPECT_EQ(keys(analysis["unit"]), (Keys{"name", "deployed", "hourly_usd",
                                          "output_tokens_per_second", "input_token_weight"}));
  EXPECT_EQ(keys(analysis["curve"][0]), (Keys{"units", "usd", "provisioned_usd", "spilled_usd",
                                              "utilization", "effective_usd_per_million_tokens"}));
  EXPECT_EQ(keys(analysis["optimum"]),
            (Keys{"units", "usd", "monthly_usd", "utilization", "effective_usd_per_million_tokens",
                  "monthly_saving_vs_serverless_usd", "monthly_saving_vs_actual_usd"}));
  EXPECT_EQ(keys(analysis["breakeven"]), (Keys{"tokens_per_month", "next_unit_tokens_per_month",
                                               "traffic_tokens_per_month", "next_unit_pays"}));
}

TEST_F(ReportTest, TheTextTableMarksTheOptimum) {
  const std::string text = run("text");
  EXPECT_NE(text.find("optimum 2 units: $187.20 for the period"), std::string::npos) << text;
  EXPECT_NE(text.find("  *     2        $187.20"), std::string::npos) << text;
  EXPECT_NE(text.find("a unit pays for itself when it serves 1.09 B tokens/month"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Actual by alias: aliases $240.00 + aliases no longer configured $0.00 + "
                      "idle, not attributed $72.00 (gpu $72.00) = $312.00\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("== Commitments (endpoints.*.commitments) =="), std::string::npos) << text;
}

// The HTML opens in a real browser with no network and draws both charts.
TEST_F(ReportTest, TheHtmlRendersInAHeadlessBrowserWithItsCharts) {
  const std::string html = dir_ + "/report.html";
  run("html", html);
  ASSERT_TRUE(std::filesystem::exists(html));
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium"))
      << "chromium is missing: scripts/install-deps --test installs it";
  const std::string png = dir_ + "/report.png";
  const std::vector<std::string> browser{"/usr/bin/chromium", "--headless", "--no-sandbox",
                                         "--disable-gpu", "--user-data-dir=" + dir_ + "/profile"};
  auto screenshot = browser;
  screenshot.insert(screenshot.end(),
                    {"--screenshot=" + png, "--window-size=1280,2000", "file://" + html});
  Process shot(screenshot);
  EXPECT_EQ(shot.wait_exit(std::chrono::seconds(60)), 0);
  ASSERT_TRUE(std::filesystem::exists(png));
  EXPECT_GT(std::filesystem::file_size(png), 20000u);  // a drawn page, not a blank one
  // The DOM the browser built holds the charts: a cost bar per unit count, 24 hour bars.
  auto dump = browser;
  dump.insert(dump.end(), {"--dump-dom", "file://" + html});
  Process dom(dump);
  EXPECT_EQ(dom.wait_exit(std::chrono::seconds(60)), 0);
  std::string page;
  for (const auto& line : dom.lines()) page += line + "\n";
  EXPECT_NE(page.find("<svg class=\"cost-chart\""), std::string::npos);
  EXPECT_NE(page.find("<svg class=\"traffic-chart\""), std::string::npos);
  EXPECT_NE(page.find("2 units: $187.20"), std::string::npos);
  EXPECT_NE(page.find("<table class=\"commitments\">"), std::string::npos);
  EXPECT_NE(page.find("<td>1_month</td><td>$2.40</td><td>$57.60</td>"), std::string::npos);
  // Nothing is fetched from a network: no scripts, styles or images by address.
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("href="), std::string::npos);
}

}  // namespace
}  // namespace fulcrum::testing
