// Keys, rate limits, budgets and the ledger store as units, with injected time.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../support/temp_dir.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/auth/authenticator.hpp"
#include "fulcrum/auth/rate_limiter.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/metering/budgets.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum {
namespace {

using namespace std::chrono_literals;

constexpr const char* kBase = R"(version: 1
endpoints:
  cloud: {kind: serverless, base_url: "http://127.0.0.1:1/v1", pricing: {m: {input: 1, output: 1}}}
models:
  mini: {targets: [cloud/m]}
  cheap: {targets: [cloud/m]}
ledger: {enabled: false}
)";

config::Config load(const std::string& rest) {
  auto loaded = config::load_string(std::string(kBase) + rest, "access.yaml");
  if (!loaded) {
    for (const auto& issue : loaded.error()) ADD_FAILURE() << issue.to_string();
  }
  return std::move(*loaded);
}

std::string key_entry(const std::string& id, const std::string& secret, const std::string& more) {
  return "  - {id: " + id + ", sha256: " + auth::to_hex(auth::sha256(secret)) + more + "}\n";
}

core::WallTime utc(std::int64_t unix_seconds) { return core::WallClock::from_time_t(unix_seconds); }
constexpr std::int64_t kWed20261125NoonUtc = 1795608000;

// No keys at all: required mode lets no token in (there is nothing it could match), open mode
// lets every request in as anonymous.
TEST(Authenticator, RequiredModeWithNoKeysLetsNoTokenIn) {
  config::Config required = load("auth: {mode: required}\nkeys: []\n");
  ASSERT_TRUE(required.keys.empty());
  EXPECT_EQ(auth::authenticate("Bearer anything", required).error(),
            auth::AuthFailure::unknown_key);
  EXPECT_EQ(auth::authenticate("", required).error(), auth::AuthFailure::missing_key);
  config::Config open = load("keys: []\n");
  EXPECT_EQ(auth::authenticate("Bearer anything", open)->id(), "anonymous");
}

TEST(Authenticator, RequiredModeNeedsAKnownKeyOpenModeFallsBackToAnonymous) {
  config::Config required =
      load("auth: {mode: required}\nkeys:\n" + key_entry("app", "sk-good", ", team: search"));
  EXPECT_EQ(auth::authenticate("", required).error(), auth::AuthFailure::missing_key);
  EXPECT_EQ(auth::authenticate("Bearer sk-bad", required).error(), auth::AuthFailure::unknown_key);
  EXPECT_EQ(auth::authenticate("Basic sk-good", required).error(), auth::AuthFailure::missing_key);
  const auto app = auth::authenticate("Bearer sk-good", required);
  ASSERT_TRUE(app);
  EXPECT_EQ(app->id(), "app");
  EXPECT_EQ(app->team(), "search");

  config::Config open = load("keys:\n" + key_entry("app", "sk-good", ""));
  EXPECT_EQ(auth::authenticate("Bearer whatever", open)->id(), "anonymous");
  EXPECT_EQ(auth::authenticate("", open)->team(), "none");
  EXPECT_EQ(auth::authenticate("Bearer sk-good", open)->id(), "app");
}

TEST(Authenticator, Sha256MatchesTheStandardVector) {
  EXPECT_EQ(auth::to_hex(auth::sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RateLimiter, RequestsAndTokensRefillContinuously) {
  config::Config config = load("keys:\n" + key_entry("app", "k", ", rpm: 2, tpm: 1000"));
  auth::RateLimiter limiter(config);
  const auto t0 = core::Clock::now();
  EXPECT_TRUE(limiter.admit(0, 100, t0).allowed);
  const auto second = limiter.admit(0, 100, t0);
  EXPECT_TRUE(second.allowed);
  EXPECT_EQ(second.requests.remaining, 0u);
  EXPECT_EQ(second.tokens.remaining, 800u);
  const auto third = limiter.admit(0, 100, t0);
  EXPECT_FALSE(third.allowed);
  EXPECT_TRUE(third.requests_exhausted);
  EXPECT_EQ(third.retry_after, 30s);  // 2 per minute: one every 30 s
  EXPECT_TRUE(limiter.admit(0, 100, t0 + 30s).allowed);

  // Tokens: settle gives back what was reserved but not used.
  auth::RateLimiter tokens(load("keys:\n" + key_entry("app", "k", ", tpm: 1000")));
  EXPECT_TRUE(tokens.admit(0, 900, t0).allowed);
  EXPECT_FALSE(tokens.admit(0, 900, t0).allowed);
  tokens.settle(0, 900, 100, t0);
  EXPECT_TRUE(tokens.admit(0, 900, t0).allowed);
  EXPECT_EQ(auth::format_reset(1500ms), "2s");
  EXPECT_EQ(auth::format_reset(360s), "6m0s");
  EXPECT_EQ(auth::format_reset(20ms), "20ms");
}

TEST(Budgets, PeriodsStartAtLocalMidnightAndOnTheFirstOfTheMonth) {
  config::Config config = load(R"(budgets:
  - {name: day, period: daily, tz: Europe/Berlin, hard_usd: 1}
  - {name: month, period: monthly, hard_usd: 1}
)");
  const auto day = metering::period_at(config.budgets[0], utc(kWed20261125NoonUtc));
  EXPECT_EQ(core::WallClock::to_time_t(day.start), kWed20261125NoonUtc - 13 * 3600);  // 00:00 CET
  EXPECT_EQ(day.end - day.start, 24h);
  const auto month = metering::period_at(config.budgets[1], utc(kWed20261125NoonUtc));
  EXPECT_EQ(core::WallClock::to_time_t(month.start), 1793491200);  // 2026-11-01T00:00Z
  EXPECT_EQ(core::WallClock::to_time_t(month.end), 1796083200);    // 2026-12-01T00:00Z
}

TEST(Budgets, HardLimitsCountReservationsAndResetAtMidnight) {
  config::Config config = load("keys:\n" + key_entry("app", "k", ", team: search") +
                               R"(budgets:
  - {name: search, scope: {team: search}, period: daily, hard_usd: 1.0}
  - {name: other, scope: {team: ads}, hard_usd: 0.01}
)");
  metering::BudgetBook book(config);
  const auto noon = utc(kWed20261125NoonUtc);
  const core::Money forty_cents = core::Money::from_usd(0.4);
  EXPECT_TRUE(book.reserve("app", "search", forty_cents, noon).allowed);
  EXPECT_TRUE(book.reserve("app", "search", forty_cents, noon).allowed);
  const auto refused = book.reserve("app", "search", forty_cents, noon);
  EXPECT_FALSE(refused.allowed);  // 1.2 reserved would pass 1.0
  EXPECT_EQ(refused.refused_by, 0u);
  EXPECT_EQ(refused.retry_after, 12h);
  // Not exhausted: this request's estimate is more than the $0.20 left after what is held.
  ASSERT_TRUE(refused.left);
  EXPECT_EQ(*refused.left, core::Money::from_usd(0.2));
  book.settle("app", "search", forty_cents, core::Money::from_usd(0.1), noon);
  EXPECT_TRUE(book.reserve("app", "search", forty_cents, noon).allowed);  // 0.1 + 0.8 reserved
  book.settle("app", "search", forty_cents, forty_cents, noon);
  book.settle("app", "search", forty_cents, forty_cents, noon);
  EXPECT_EQ(book.spent(0, noon), core::Money::from_usd(0.9));
  EXPECT_TRUE(book.reserve("app", "search", core::Money::from_usd(0.1), noon).allowed);
  const auto exhausted = book.reserve("app", "search", core::Money{1}, noon);
  EXPECT_FALSE(exhausted.allowed);
  EXPECT_FALSE(exhausted.left);  // nothing is left: the refusal says "exhausted"
  book.settle("app", "search", core::Money::from_usd(0.1), core::Money{}, noon);
  EXPECT_EQ(book.spent(1, noon), core::Money{});  // another team's budget is untouched

  const auto after_midnight = noon + 12h + 1s;
  EXPECT_EQ(book.spent(0, after_midnight), core::Money{});
  EXPECT_TRUE(book.reserve("app", "search", core::Money::from_usd(0.9), after_midnight).allowed);
}

TEST(Budgets, AReloadedBookKeepsTheSpendOfBudgetsThatStillExist) {
  const std::string keys = "keys:\n" + key_entry("app", "k", ", team: search");
  const config::Config before = load(keys + R"(budgets:
  - {name: search, scope: {team: search}, period: daily, hard_usd: 1.0}
  - {name: gone, hard_usd: 5}
)");
  metering::BudgetBook old_book(before);
  const auto noon = utc(kWed20261125NoonUtc);
  const core::Money forty_cents = core::Money::from_usd(0.4);
  old_book.settle("app", "search", {}, forty_cents, noon);
  ASSERT_TRUE(old_book.reserve("app", "search", forty_cents, noon).allowed);  // in flight

  // The limit changed; the budget (same name, scope, period) did not. A new one starts empty.
  const config::Config after = load(keys + R"(budgets:
  - {name: fresh, hard_usd: 2}
  - {name: search, scope: {team: search}, period: daily, hard_usd: 0.9}
)");
  metering::BudgetBook book(after, old_book);
  EXPECT_FALSE(book.carried_over(0));
  EXPECT_TRUE(book.carried_over(1));
  EXPECT_EQ(book.spent(1, noon), forty_cents);
  EXPECT_EQ(book.spent(0, noon), core::Money{});  // new: nothing recorded in it yet
  // 0.4 spent + 0.4 still reserved by the request in flight: 0.2 more would pass 0.9.
  EXPECT_FALSE(book.reserve("app", "search", core::Money::from_usd(0.2), noon).allowed);
  // The request in flight settles through the old book into the same account.
  old_book.settle("app", "search", forty_cents, core::Money::from_usd(0.1), noon);
  EXPECT_EQ(book.spent(1, noon), core::Money::from_usd(0.5));
}

TEST(Budgets, SoftLimitsAskForTheDowngradeAlias) {
  config::Config config = load(R"(budgets:
  - {name: soft, soft_usd: 0.5, on_soft: {downgrade_to: cheap}}
)");
  metering::BudgetBook book(config);
  const auto noon = utc(kWed20261125NoonUtc);
  EXPECT_FALSE(book.check_soft("anonymous", "none", noon).downgrade_to);
  book.restore(0, core::Money::from_usd(0.6), noon);
  const auto soft = book.check_soft("anonymous", "none", noon);
  ASSERT_TRUE(soft.downgrade_to);
  EXPECT_EQ(config.models[*soft.downgrade_to].name, "cheap");
}

TEST(AccessConfig, MistakesInKeysAndBudgetsAreReportedWithoutEchoingSecrets) {
  auto loaded = config::load_string(std::string(kBase) + R"(auth: {mode: sometimes}
keys:
  - {id: a, sha256: sk-live-123, models: [nope], slo: urgent}
budgets:
  - {name: b, scope: {key: ghost}, period: weekly, soft_usd: 5, hard_usd: 1}
  - {name: c, on_soft: {downgrade_to: mini}}
)",
                                    "access.yaml");
  ASSERT_FALSE(loaded);
  std::string all;
  for (const auto& issue : loaded.error()) all += issue.to_string() + "\n";
  for (const char* expected :
       {"auth.mode must be 'required'", "sha256 must be 64 hex digits",
        "unknown model alias 'nope'", "unknown SLO class 'urgent'", "unknown key id 'ghost'",
        "period must be daily or monthly", "soft_usd is above hard_usd",
        "needs soft_usd, hard_usd or both", "on_soft needs soft_usd"}) {
    EXPECT_NE(all.find(expected), std::string::npos) << expected << "\n" << all;
  }
  EXPECT_EQ(all.find("sk-live-123"), std::string::npos);
}

class LedgerStoreTest : public ::testing::Test {
 protected:
  std::string path() const { return dir_.file("ledger.db"); }

  static metering::LedgerRow row(const std::string& id, std::int64_t finished_ms,
                                 std::string_view key, std::int64_t nano) {
    metering::LedgerRow r;
    r.set_request_id(id);
    r.started_ms = finished_ms - 10;
    r.finished_ms = finished_ms;
    r.key_id = key;
    r.team = key == "a" ? "red" : "blue";
    r.alias = "mini, \"quoted\"";
    r.outcome = "success";
    r.cost = core::Money{nano};
    return r;
  }

  testing::TempDir dir_{"ledger"};
};

TEST_F(LedgerStoreTest, RowsRoundTripAndSpendIsSummedByScopeAndTime) {
  auto store = metering::SqliteLedger::open(path());
  ASSERT_TRUE(store) << store.error();
  ASSERT_TRUE((*store)->append(
      {row("r1", 1000, "a", 5), row("r2", 2000, "b", 7), row("r3", 3000, "a", 11)}));
  EXPECT_EQ((*store)->spent_since(0, "", "").nano_usd, 23);
  EXPECT_EQ((*store)->spent_since(1500, "", "").nano_usd, 18);
  EXPECT_EQ((*store)->spent_since(0, "a", "").nano_usd, 16);
  EXPECT_EQ((*store)->spent_since(0, "", "blue").nano_usd, 7);
  std::ostringstream csv;
  EXPECT_EQ((*store)->export_rows(1500, metering::ExportFormat::csv, csv), 2u);
  EXPECT_NE(csv.str().find("\"mini, \"\"quoted\"\"\""), std::string::npos) << csv.str();
}

TEST_F(LedgerStoreTest, TheSchemaIsVersionedAndANewerOneIsRefused) {
  { ASSERT_TRUE(metering::SqliteLedger::open(path())); }
  { ASSERT_TRUE(metering::SqliteLedger::open(path())); }  // reopening migrates nothing
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  const auto newer = metering::SqliteLedger::open(path());
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().find("schema version 99"), std::string::npos);
}

TEST_F(LedgerStoreTest, AVersionOneLedgerGainsTheCacheWriteAndReasoningColumnsInPlace) {
  // A ledger as Fulcrum wrote it before usage had cache writes and reasoning: its rows stay,
  // read as zero in the new columns.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
    const char* v1 =
        "CREATE TABLE requests (request_id TEXT NOT NULL, started_ms INTEGER NOT NULL, "
        "finished_ms INTEGER NOT NULL, key_id TEXT NOT NULL, team TEXT NOT NULL, alias TEXT NOT "
        "NULL, route TEXT NOT NULL, slo_class TEXT NOT NULL, endpoint TEXT NOT NULL, "
        "endpoint_kind TEXT NOT NULL, upstream_model TEXT NOT NULL, input_tokens INTEGER NOT "
        "NULL, cached_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_nano_usd "
        "INTEGER NOT NULL, amortized_nano_usd INTEGER NOT NULL, ttft_ms REAL, duration_ms REAL "
        "NOT NULL, status INTEGER NOT NULL, outcome TEXT NOT NULL, attempts INTEGER NOT NULL, "
        "estimated INTEGER NOT NULL); CREATE INDEX requests_started ON requests (started_ms);"
        "INSERT INTO requests VALUES ('old',1000,1000,'a','red','m','r','c','e','serverless',"
        "'x',10,2,5,9,9,NULL,1.0,200,'success',1,0); PRAGMA user_version=1;";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = metering::SqliteLedger::open(path());
  ASSERT_TRUE(store) << store.error();
  metering::LedgerRow fresh = row("new", 2000, "a", 7);
  fresh.input_tokens = 130;
  fresh.cached_tokens = 20;
  fresh.cache_write_tokens = 10;
  fresh.output_tokens = 50;
  fresh.reasoning_tokens = 12;
  ASSERT_TRUE((*store)->append({fresh}));
  std::ostringstream out;
  EXPECT_EQ((*store)->export_rows(0, metering::ExportFormat::jsonl, out), 2u);
  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["request_id"], "old");
  EXPECT_EQ(rows[0]["cache_write_tokens"], 0);
  EXPECT_EQ(rows[0]["reasoning_tokens"], 0);
  EXPECT_EQ(rows[1]["cache_write_tokens"], 10);
  EXPECT_EQ(rows[1]["reasoning_tokens"], 12);
  EXPECT_EQ(rows[1]["cost_nano_usd"], 7);
  std::int64_t written = 0;
  (*store)->for_each_usage(
      0, 10000, [&](const metering::UsageRecord& r) { written += r.cache_write_tokens; });
  EXPECT_EQ(written, 10);
}

// What `fulcrum replay` reads of a row besides its usage: how it went, for the client.
TEST_F(LedgerStoreTest, UsageRecordsCarryClassOutcomeAndTimings) {
  auto store = metering::SqliteLedger::open(path());
  ASSERT_TRUE(store) << store.error();
  metering::LedgerRow streamed = row("streamed", 2000, "a", 0);
  streamed.route = "default";
  streamed.slo_class = "batch";
  streamed.ttft_ms = 120.5;
  streamed.duration_ms = 900;
  metering::LedgerRow failed = row("failed", 3000, "a", 0);
  failed.outcome = "upstream_error";
  failed.duration_ms = 40;  // no first byte: ttft_ms stays -1, stored as NULL
  ASSERT_TRUE((*store)->append({streamed, failed}));
  std::vector<metering::UsageRecord> read;
  std::vector<std::string> texts;
  (*store)->for_each_usage(0, 10000, [&](const metering::UsageRecord& r) {
    read.push_back(r);
    texts.insert(texts.end(),
                 {std::string(r.route), std::string(r.slo_class), std::string(r.outcome)});
  });
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].finished_ms, 2000);
  EXPECT_EQ(texts[0], "default");
  EXPECT_EQ(texts[1], "batch");
  EXPECT_EQ(texts[2], "success");
  EXPECT_DOUBLE_EQ(read[0].ttft_ms, 120.5);
  EXPECT_DOUBLE_EQ(read[0].duration_ms, 900);
  EXPECT_EQ(texts[5], "upstream_error");
  EXPECT_DOUBLE_EQ(read[1].ttft_ms, -1);
  EXPECT_DOUBLE_EQ(read[1].duration_ms, 40);
}

// A batch goes in 16 rows per statement, the rest one by one: every row lands once, in order
// (all start in the same millisecond, so the export's order is the rows'), with its own values
// (a missing TTFT among them stays NULL); a row SQLite refuses leaves none of its batch, in
// either part.
TEST_F(LedgerStoreTest, ABatchIsStoredWholeInOrderOrNotAtAll) {
  auto store = metering::SqliteLedger::open(path());
  ASSERT_TRUE(store) << store.error();
  const auto batch = [](const std::string& prefix, int count) {
    std::vector<metering::LedgerRow> rows;
    for (int i = 0; i < count; ++i) {
      rows.push_back(row(prefix + std::to_string(i), 1000 + i, i % 2 ? "a" : "b", 100 + i));
      rows.back().started_ms = 500;
      rows.back().ttft_ms = i % 3 == 0 ? -1 : 10.0 + i;
    }
    return rows;
  };
  ASSERT_TRUE((*store)->append(batch("r", 37)));  // two statements of 16, then 5 of one
  std::ostringstream out;
  EXPECT_EQ((*store)->export_rows(0, metering::ExportFormat::jsonl, out), 37u);
  std::istringstream lines(out.str());
  std::string line;
  for (int i = 0; std::getline(lines, line); ++i) {
    const auto stored = nlohmann::json::parse(line);
    EXPECT_EQ(stored["request_id"], "r" + std::to_string(i)) << line;
    EXPECT_EQ(stored["key_id"], i % 2 ? "a" : "b") << line;
    EXPECT_EQ(stored["cost_nano_usd"], 100 + i) << line;
    if (i % 3 == 0) {
      EXPECT_TRUE(stored["ttft_ms"].is_null()) << line;
    } else {
      EXPECT_DOUBLE_EQ(stored["ttft_ms"].get<double>(), 10.0 + i) << line;
    }
  }

  // SQLite refuses one row: in a statement of 16, then among the rows after them.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "CREATE TRIGGER refuse BEFORE INSERT ON requests "
                   "WHEN NEW.request_id IN ('x3', 'y17') BEGIN SELECT RAISE(ABORT, 'no'); END",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  EXPECT_FALSE((*store)->append(batch("x", 20)));
  EXPECT_FALSE((*store)->append(batch("y", 20)));
  std::ostringstream after;
  EXPECT_EQ((*store)->export_rows(0, metering::ExportFormat::jsonl, after), 37u);
  EXPECT_TRUE((*store)->append(batch("z", 17)));
  std::ostringstream last;
  EXPECT_EQ((*store)->export_rows(0, metering::ExportFormat::jsonl, last), 54u);
}

TEST_F(LedgerStoreTest, TheWriterCommitsEverythingQueuedWhenClosed) {
  auto store = metering::SqliteLedger::open(path());
  ASSERT_TRUE(store);
  config::LedgerConfig settings;
  settings.batch_window = 10s;  // nothing would be committed by time alone
  settings.batch_rows = 1000;
  {
    metering::Ledger ledger(std::move(*store), settings);
    for (int i = 0; i < 250; ++i) ledger.record(row("r" + std::to_string(i), 1000 + i, "a", 1));
    ledger.close();
    EXPECT_EQ(ledger.stats().written, 250u);
    EXPECT_FALSE(ledger.record(row("late", 1, "a", 1)));  // closed: refused and counted
    EXPECT_EQ(ledger.stats().dropped, 1u);
  }
  auto reopened = metering::SqliteLedger::open(path());
  EXPECT_EQ((*reopened)->spent_since(0, "", "").nano_usd, 250);
}

TEST(EstimatedUsage, GeneratedTextIsMeasuredFromContentFields) {
  EXPECT_EQ(api::generated_chars(R"(data: {"choices":[{"delta":{"content":"hello"}}]})"), 5u);
  EXPECT_EQ(api::generated_chars(R"({"choices":[{"message":{"content": "a \"b\""}}]})"),
            7u);  // escapes as written
  EXPECT_EQ(api::generated_chars(R"({"choices":[{"text":"abc"}]})"), 3u);
  EXPECT_EQ(api::estimate_usage(12, 9).output, 3);
  EXPECT_EQ(api::estimate_usage(12, 9).input, 12);
}

}  // namespace
}  // namespace fulcrum
