// The breakeven report's money, in process and against numbers computed by hand: the alias
// views add up to the total actual (idle hours included), and the commitment view prices each
// term against on demand. Each in JSON, text and HTML.
#include "fulcrum/metering/breakeven.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fulcrum/config/loader.hpp"
#include "fulcrum/report/render.hpp"

namespace fulcrum {
namespace {

using nlohmann::json;

constexpr std::int64_t kStartMs = 1793491200000;  // 2026-11-01T00:00:00Z
constexpr std::int64_t kHourMs = 3600000;

config::Config load(const std::string& yaml) {
  auto config = config::load_string(yaml, "test.yaml");
  EXPECT_TRUE(config.has_value()) << config.error().front().to_string();
  return std::move(*config);
}

// One ledger row: `usd` is the marginal cost of a serverless row, the amortized cost of a
// provisioned one.
metering::UsageRecord row(int hour, std::string_view alias, std::string_view endpoint, double usd,
                          std::int64_t output_tokens = 1000) {
  const bool serverless = endpoint == "cloud";
  metering::UsageRecord r;
  r.started_ms = kStartMs + hour * kHourMs + 60000;
  r.alias = alias;
  r.endpoint = endpoint;
  r.endpoint_kind = serverless ? "serverless" : "provisioned";
  r.output_tokens = output_tokens;
  r.cost = core::Money::from_usd(serverless ? usd : 0);
  r.amortized = core::Money::from_usd(usd);
  return r;
}

// Ten hours. gpu-a ($3/h, $30 for the period) is used by chat for $0.60 of amortized cost, by
// code for $0.30 and by `gone` (an alias since removed) for $0.10: 60%, 30%, 10% of $30 =
// $18, $9, $3. gpu-c ($0.50/h, $5) is used only by code. gpu-b ($1/h, $10) by nobody: idle,
// not attributed. Serverless: chat $5, gone $1. A row on gpu-old, no longer configured, is in
// neither the total nor any share.
//   total actual   = $6 serverless + $30 + $10 + $5            = $51
//   chat           = $5 + $18                                   = $23
//   code           = $0 + $9 + $5                               = $14
//   aliases $37 + no longer configured ($1 + $3) $4 + idle $10  = $51
//   unit view gpu-a: $30 + its aliases' serverless $5           = $35;
//     $35 - $3 charged to gone + $5 code pays for gpu-c          = $37, its aliases' views.
class Attribution : public ::testing::Test {
 protected:
  Attribution()
      : config_(load(R"(version: 1
endpoints:
  gpu-a: {kind: provisioned, base_url: "http://127.0.0.1:1/v1", hourly_usd: 3,
          capacity: {output_tokens_per_second: 1000}}
  gpu-b: {kind: provisioned, base_url: "http://127.0.0.1:2/v1", hourly_usd: 1}
  gpu-c: {kind: provisioned, base_url: "http://127.0.0.1:3/v1", hourly_usd: 0.5}
  cloud: {kind: serverless, base_url: "http://127.0.0.1:4/v1", pricing: {m: {input: 1, output: 2}}}
models:
  chat: {targets: [gpu-a/llama, cloud/m]}
  code: {targets: [gpu-a/llama, gpu-c/llama, cloud/m]}
ledger: {enabled: false}
)")) {
    metering::TrafficBook book(config_, kStartMs, kStartMs + 10 * kHourMs);
    for (int hour = 0; hour < 6; ++hour) book.add(row(hour, "chat", "gpu-a", 0.1));
    for (int hour = 0; hour < 3; ++hour) book.add(row(hour, "code", "gpu-a", 0.1));
    book.add(row(4, "gone", "gpu-a", 0.1));
    book.add(row(5, "code", "gpu-c", 0.2));
    book.add(row(6, "chat", "cloud", 5));
    book.add(row(7, "gone", "cloud", 1));
    book.add(row(8, "chat", "gpu-old", 2));
    report_ = book.analyse();
  }

  const metering::Analysis& alias(const std::string& name) const {
    for (const auto& a : report_.aliases) {
      if (a.subject == name) return a;
    }
    throw std::runtime_error("no alias " + name);
  }

  config::Config config_;
  metering::Report report_;
};

TEST_F(Attribution, TheAliasViewsAndTheUnattributedIdleCostAddUpToTheTotal) {
  EXPECT_NEAR(report_.actual_usd, 51, 1e-9);
  EXPECT_NEAR(alias("chat").actual_usd, 23, 1e-9);
  EXPECT_NEAR(alias("chat").actual_serverless_usd, 5, 1e-9);
  EXPECT_NEAR(alias("chat").actual_provisioned_usd, 18, 1e-9);
  EXPECT_NEAR(alias("code").actual_usd, 14, 1e-9);
  EXPECT_NEAR(alias("code").actual_provisioned_usd, 14, 1e-9);
  EXPECT_FALSE(alias("chat").reconciliation);
  const metering::Attribution& by = report_.attribution;
  EXPECT_NEAR(by.aliases_usd, 37, 1e-9);
  EXPECT_NEAR(by.unknown_aliases_usd, 4, 1e-9);
  EXPECT_NEAR(by.idle_not_attributed_usd, 10, 1e-9);
  ASSERT_EQ(by.idle_endpoints.size(), 1u);
  EXPECT_EQ(by.idle_endpoints[0].first, "gpu-b");
  EXPECT_NEAR(by.idle_endpoints[0].second, 10, 1e-9);
  EXPECT_NEAR(by.aliases_usd + by.unknown_aliases_usd + by.idle_not_attributed_usd,
              report_.actual_usd, 1e-9);
}

TEST_F(Attribution, TheUnitViewSaysWhyItDiffersFromItsAliases) {
  ASSERT_EQ(report_.units.size(), 1u);
  const metering::Analysis& gpu = report_.units[0];
  EXPECT_EQ(gpu.subject, "gpu-a");
  EXPECT_NEAR(gpu.actual_usd, 35, 1e-9);
  EXPECT_NEAR(gpu.actual_provisioned_usd, 30, 1e-9);
  ASSERT_TRUE(gpu.reconciliation);
  EXPECT_NEAR(gpu.reconciliation->aliases_actual_usd, 37, 1e-9);
  EXPECT_NEAR(gpu.reconciliation->charged_outside_usd, 3, 1e-9);
  EXPECT_NEAR(gpu.reconciliation->aliases_other_units_usd, 5, 1e-9);
}

TEST_F(Attribution, JsonTextAndHtmlShowTheSameSum) {
  const json doc = json::parse(report::report_json(report_));
  const json& by = doc["attribution"];
  EXPECT_NEAR(by["aliases_usd"], 37, 1e-9);
  EXPECT_NEAR(by["unknown_aliases_usd"], 4, 1e-9);
  EXPECT_NEAR(by["idle_not_attributed_usd"], 10, 1e-9);
  EXPECT_EQ(by["idle_not_attributed"], json::parse(R"([{"endpoint": "gpu-b", "usd": 10.0}])"));
  double aliases = 0;
  for (const json& a : doc["aliases"]) aliases += a["actual_usd"].get<double>();
  EXPECT_NEAR(aliases + by["unknown_aliases_usd"].get<double>() +
                  by["idle_not_attributed_usd"].get<double>(),
              doc["total"]["actual_usd"].get<double>(), 1e-9);
  EXPECT_NEAR(doc["units"][0]["reconciliation"]["charged_outside_usd"], 3, 1e-9);
  EXPECT_TRUE(doc["aliases"][0]["reconciliation"].is_null());

  const std::string text = report::report_text(report_);
  EXPECT_NE(text.find("Actual by alias: aliases $37.00 + aliases no longer configured $4.00 + "
                      "idle, not attributed $10.00 (gpu-b $10.00) = $51.00\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  actual $23.00 (serverless $5.00 + provisioned $18.00)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  its aliases' own views add up to $37.00: $3.00 of the unit's cost is "
                      "charged outside them (to other aliases, to aliases no longer configured, "
                      "or idle, not attributed); they pay $5.00 for other units\n"),
            std::string::npos)
      << text;

  const std::string html = report::report_html(report_);
  EXPECT_NE(html.find("<tr><td>aliases</td><td>$37.00</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>aliases no longer configured</td><td>$4.00</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><td>idle, not attributed (gpu-b $10.00)</td><td>$10.00</td></tr>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<td>= actual</td><td>$51.00</td>"), std::string::npos);
  EXPECT_NE(html.find("<p class=\"reconciliation\">Its aliases' own views add up to $37.00"),
            std::string::npos)
      << html;
}

// The issue's case: one alias on one unit. Four hours of a $2/h unit ($8) that chat used for
// $0.50 of amortized cost, plus $3 serverless: both views say $11, and nothing is left over.
TEST(AttributionOneUnit, TheAliasAndTheUnitViewAgree) {
  const config::Config config = load(R"(version: 1
endpoints:
  gpu: {kind: provisioned, base_url: "http://127.0.0.1:1/v1", hourly_usd: 2,
        capacity: {output_tokens_per_second: 1000}}
  cloud: {kind: serverless, base_url: "http://127.0.0.1:2/v1", pricing: {m: {input: 1, output: 2}}}
models:
  chat: {targets: [gpu/llama, cloud/m]}
ledger: {enabled: false}
)");
  metering::TrafficBook book(config, kStartMs, kStartMs + 4 * kHourMs);
  book.add(row(0, "chat", "gpu", 0.25));
  book.add(row(1, "chat", "gpu", 0.25));
  book.add(row(2, "chat", "cloud", 3));
  const metering::Report r = book.analyse();
  ASSERT_EQ(r.aliases.size(), 1u);
  ASSERT_EQ(r.units.size(), 1u);
  EXPECT_NEAR(r.actual_usd, 11, 1e-9);
  EXPECT_NEAR(r.aliases[0].actual_usd, 11, 1e-9);
  EXPECT_NEAR(r.units[0].actual_usd, 11, 1e-9);
  EXPECT_NEAR(r.units[0].reconciliation->aliases_actual_usd, 11, 1e-9);
  EXPECT_NEAR(r.attribution.idle_not_attributed_usd, 0, 1e-9);
  // Same actual, same optimum: the two savings against the actual mix are the same too.
  const json doc = json::parse(report::report_json(r));
  EXPECT_NEAR(doc["aliases"][0]["optimum"]["monthly_saving_vs_actual_usd"].get<double>(),
              doc["units"][0]["optimum"]["monthly_saving_vs_actual_usd"].get<double>(), 1e-9);
  EXPECT_EQ(report::report_text(r).find("its aliases' own views"), std::string::npos);
}

// A day. gpu: $4/h on demand, 1000 tokens/s = 3.6M weighted tokens an hour. From 08:00 to
// 20:00 it serves 3.6M output tokens an hour (a whole unit's worth, $4 amortized), nothing
// at night; serverless would charge $2 per 1M: $7.20 for each of those 12 hours.
//   on demand, deployed all day:      24 x $4                         = $96.00
//   on demand, on in busy hours only: 12 x $4                         = $48.00
//   its curve, on demand:  n=0 12 x $7.20 = $86.40 (optimum), n=1 $96.00, n=2 $192.00
// Each term bills all 24 hours; breakeven = 24 x term / $4 hours a day; the curve repriced:
//   1_month  $3.20: $76.80, saves $19.20, vs busy hours -$28.80, 19.2 h/day, n=1 $76.80
//   6_month  $2.60: $62.40, saves $33.60, vs busy hours -$14.40, 15.6 h/day, n=1 $62.40
//   3_year   $1.50: $36.00, saves $60.00, vs busy hours +$12.00,  9.0 h/day, n=1 $36.00
//   pricier  $5.00: $120.00, saves -$24.00, vs busy hours -$72.00, never (30 h/day), n=0 $86.40
class Commitments : public ::testing::Test {
 protected:
  Commitments()
      : config_(load(R"(version: 1
endpoints:
  gpu:
    kind: provisioned
    base_url: "http://127.0.0.1:1/v1"
    hourly_usd: 4
    capacity: {output_tokens_per_second: 1000}
    commitments:
      1_month: {hourly_usd: 3.20}
      6_month: {hourly_usd: 2.60}
      3_year: {hourly_usd: 1.50}
      pricier: {hourly_usd: 5}
  spare: {kind: provisioned, base_url: "http://127.0.0.1:3/v1", hourly_usd: 1,
          commitments: {1_month: {hourly_usd: 0.5}}}
  cloud: {kind: serverless, base_url: "http://127.0.0.1:2/v1", pricing: {m: {input: 1, output: 2}}}
models:
  chat: {targets: [gpu/llama, cloud/m]}
ledger: {enabled: false}
)")) {
    metering::TrafficBook book(config_, kStartMs, kStartMs + 24 * kHourMs);
    for (int hour = 8; hour < 20; ++hour) book.add(row(hour, "chat", "gpu", 4, 3'600'000));
    report_ = book.analyse();
  }

  config::Config config_;
  metering::Report report_;
};

TEST_F(Commitments, EachTermIsPricedAgainstOnDemand) {
  ASSERT_EQ(report_.commitments.size(), 2u);
  const metering::CommitmentView& gpu = report_.commitments[0];
  EXPECT_EQ(gpu.endpoint, "gpu");
  EXPECT_NEAR(gpu.on_demand_usd, 96, 1e-9);
  EXPECT_NEAR(gpu.busy_hours, 12, 1e-9);
  EXPECT_NEAR(gpu.switched_off_usd, 48, 1e-9);
  EXPECT_EQ(gpu.on_demand_optimum_units, 0u);
  EXPECT_NEAR(*gpu.on_demand_optimum_usd, 86.4, 1e-9);
  struct Expected {
    const char* name;
    double usd, saving, vs_switched_off, hours_per_day;
    unsigned units;
    double optimum_usd;
  };
  const std::vector<Expected> expected{{"1_month", 76.8, 19.2, -28.8, 19.2, 1, 76.8},
                                       {"6_month", 62.4, 33.6, -14.4, 15.6, 1, 62.4},
                                       {"3_year", 36, 60, 12, 9, 1, 36},
                                       {"pricier", 120, -24, -72, 30, 0, 86.4}};
  ASSERT_EQ(gpu.terms.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const metering::CommitmentTerm& t = gpu.terms[i];
    const Expected& e = expected[i];
    EXPECT_EQ(t.name, e.name);
    EXPECT_NEAR(t.usd, e.usd, 1e-9) << e.name;
    EXPECT_NEAR(t.saving_vs_on_demand_usd, e.saving, 1e-9) << e.name;
    EXPECT_NEAR(t.saving_vs_switched_off_usd, e.vs_switched_off, 1e-9) << e.name;
    EXPECT_NEAR(*t.breakeven_hours_per_day, e.hours_per_day, 1e-9) << e.name;
    EXPECT_NEAR(*t.breakeven_fraction_of_hours, e.hours_per_day / 24, 1e-9) << e.name;
    EXPECT_EQ(t.optimum_units, e.units) << e.name;
    EXPECT_NEAR(*t.optimum_usd, e.optimum_usd, 1e-9) << e.name;
  }
  // An endpoint no alias sends to first is not sized, but its terms are still priced: $24 on
  // demand, $12 committed, never used.
  const metering::CommitmentView& spare = report_.commitments[1];
  EXPECT_EQ(spare.endpoint, "spare");
  EXPECT_NEAR(spare.busy_hours, 0, 1e-9);
  EXPECT_FALSE(spare.on_demand_optimum_units);
  EXPECT_NEAR(spare.terms[0].saving_vs_on_demand_usd, 12, 1e-9);
  EXPECT_NEAR(spare.terms[0].saving_vs_switched_off_usd, -12, 1e-9);
  EXPECT_FALSE(spare.terms[0].optimum_units);
}

TEST_F(Commitments, JsonTextAndHtmlShowTheTerms) {
  const json doc = json::parse(report::report_json(report_));
  const json& gpu = doc["commitments"][0];
  EXPECT_EQ(gpu["endpoint"], "gpu");
  EXPECT_NEAR(gpu["on_demand"]["usd"], 96, 1e-9);
  EXPECT_NEAR(gpu["on_demand"]["busy_hours_per_day"], 12, 1e-9);
  EXPECT_NEAR(gpu["on_demand"]["switched_off_usd"], 48, 1e-9);
  EXPECT_EQ(gpu["on_demand"]["optimum_units"], 0);
  const json& three_year = gpu["terms"][2];
  EXPECT_EQ(three_year["name"], "3_year");
  EXPECT_NEAR(three_year["usd"], 36, 1e-9);
  EXPECT_NEAR(three_year["saving_vs_switched_off_usd"], 12, 1e-9);
  EXPECT_NEAR(three_year["breakeven_hours_per_day"], 9, 1e-9);
  EXPECT_EQ(three_year["optimum_units"], 1);
  EXPECT_TRUE(doc["commitments"][1]["terms"][0]["optimum_units"].is_null());

  const std::string text = report::report_text(report_);
  EXPECT_NE(text.find("gpu: on demand $4.00/h, $96.00 for the period; a request started on it in "
                      "12.0 of 24 h (12.0 h/day): on only in those hours, on demand would cost "
                      "$48.00\n  on demand, its unit view's optimum is 0 units: $86.40\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  3_year            $1.50       $36.00         $60.00           $12.00 "
                      "   9.0 h/day       1 unit: $36.00\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  pricier           $5.00      $120.00        -$24.00          -$72.00 "
                      "       never      0 units: $86.40\n"),
            std::string::npos)
      << text;

  const std::string html = report::report_html(report_);
  EXPECT_NE(html.find("<tr><td>6_month</td><td>$2.60</td><td>$62.40</td><td>$33.60</td>"
                      "<td>-$14.40</td><td>15.6 h/day</td><td>1 unit: $62.40</td></tr>"),
            std::string::npos)
      << html;
}

}  // namespace
}  // namespace fulcrum
