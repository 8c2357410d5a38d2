// Three Fulcrum replicas with the same YAML, sharing state in a real redis-server, against
// fulcrum-sim: they must behave like one gateway. Provisioned capacity, hard budgets and RPM
// limits hold across them; with Redis killed mid-load no request fails for that reason and
// each feature follows its on_state_unavailable mode; once Redis is back the fleet's slots
// are asserted again; a replica SIGKILLed while holding slots gives them back within the
// lease time.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "../support/background.hpp"
#include "../support/eventually.hpp"
#include "../support/fleet.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "fulcrum/auth/authenticator.hpp"
#include "fulcrum/metering/postgres_ledger.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

// A server the tests start themselves, or a skip; a failure where scripts/test sets
// FULCRUM_REQUIRE_<NAME>, so that a missing server never passes for a passing test.
#define REQUIRE_SERVER(server, variable)                                           \
  do {                                                                             \
    if (!server::available()) {                                                    \
      if (std::getenv(variable) != nullptr) FAIL() << #server " is not installed"; \
      GTEST_SKIP() << #server " is not installed (scripts/install-deps --test)";   \
    }                                                                              \
  } while (false)
#define REQUIRE_REDIS() REQUIRE_SERVER(RedisServer, "FULCRUM_REQUIRE_REDIS")
#define REQUIRE_POSTGRES() REQUIRE_SERVER(PostgresServer, "FULCRUM_REQUIRE_POSTGRES")

std::string chat(int max_tokens = 5) {
  return json{{"model", "m"},
              {"max_tokens", max_tokens},
              {"messages", {{{"role", "user"}, {"content", "one two three"}}}}}
      .dump();
}

// A GPU with 8 slots, serverless spill, one alias (`targets`); `state` and `rest` appended.
std::string gateway(const std::string& state, const std::string& rest = "",
                    const std::string& targets = "gpu/m, cloud/m") {
  return R"(endpoints:
  gpu:
    kind: provisioned
    base_url: http://${gpu}/v1
    hourly_usd: 2.0
    capacity: {max_concurrency: 8}
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {m: {input: 1000, output: 1000}}
models:
  m: {targets: [)" +
         targets + R"(]}
)" + state +
         rest;
}

// A call that times out is admitted on the replica's own share, by design, which the tests
// below would count as a miss; 250 ms leaves room for a sanitizer build on a loaded machine.
std::string shared(const RedisServer& redis) {
  return "state:\n  redis: {url: " + redis.url() +
         ", lease_ttl: 2s, timeout: 250ms}\n  replicas: 3\n";
}

// Runs `count` requests at once, request i on ports[i % ports.size()], each on its own
// connection; returns their responses in order.
std::vector<Response> concurrently(int count, const std::vector<std::uint16_t>& ports,
                                   const std::function<Response(HttpClient&)>& run) {
  std::vector<Response> responses(count);
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      HttpClient client(ports[i % ports.size()]);
      responses[i] = run(client);
    });
  }
  for (auto& thread : threads) thread.join();
  return responses;
}

int served_by(const std::vector<Response>& responses, const std::string& endpoint) {
  return static_cast<int>(std::count_if(responses.begin(), responses.end(), [&](const Response& r) {
    return r.status == 200 && r.header("x-fulcrum-endpoint") == endpoint;
  }));
}

// The slots every live holder has on `endpoint`, as Redis stores them.
int slots_in_redis(const RedisServer& redis, const std::string& endpoint) {
  const auto lines = redis.cli({"HGETALL", "fulcrum:capacity:" + endpoint});
  int total = 0;
  for (std::size_t i = 0; i + 1 < lines.size(); i += 2) {
    if (lines[i].starts_with("h:")) total += std::stoi(lines[i + 1]);
  }
  return total;
}

// The budget `name`'s spend in Redis, in USD; none while Redis has no spend for its period (a
// renewal can create the budget's key with a holder's field alone, and redis-cli prints a
// missing field as an empty line).
std::optional<double> spent_in_redis(const RedisServer& redis, const std::string& name) {
  const auto keys = redis.cli({"KEYS", "fulcrum:budget:" + name + ":*"});
  if (keys.size() != 1) return std::nullopt;
  const auto value = redis.cli({"HGET", keys[0], "spent"});
  if (value.empty() || value[0].empty()) return std::nullopt;
  return std::stod(value[0]) / 1e9;
}

// A global daily budget the tests do not reach: what Redis records of it is what they watch.
constexpr const char* kRoomyBudget = R"(
budgets:
  - {name: all, scope: global, period: daily, hard_usd: 1000}
)";

// One request through each of `ports` in turn, each answered by the cloud and its spend in
// Redis before the next is sent: the last replica's admission reads the others' spend there,
// so its book knows it all. Returns the marginal spend (what budgets count).
double spend_in_turn(const RedisServer& redis, std::initializer_list<std::uint16_t> ports) {
  double spent = 0;
  for (const std::uint16_t port : ports) {
    HttpClient client(port);
    const Response r = client.post("/v1/chat/completions", chat());
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("x-fulcrum-endpoint"), "cloud");
    if (r.status != 200) continue;
    spent += std::stod(r.header("x-fulcrum-marginal-cost-usd"));
    EXPECT_TRUE(eventually([&] {
      const auto in_redis = spent_in_redis(redis, "all");
      return in_redis && *in_redis >= spent - 1e-9;
    }));
  }
  return spent;
}

constexpr const char* kSlowGpu =
    "endpoints: {gpu: {listen: 127.0.0.1:0, ttft: 400ms}, cloud: {listen: 127.0.0.1:0}}";
constexpr const char* kGatedGpu =
    "endpoints: {gpu: {listen: 127.0.0.1:0, hold: true}, cloud: {listen: 127.0.0.1:0}}";

TEST(Replicas, WithoutSharedStateThreeReplicasOvershootTheGpu) {
  // The problem, measured the same way as the fix below: each replica believes it owns all 8.
  Stack stack(kSlowGpu, gateway(""));
  Replica b(stack, 2);
  Replica c(stack, 3);
  const auto responses =
      concurrently(36, {stack.port(), b.port(), c.port()},
                   [](HttpClient& client) { return client.post("/v1/chat/completions", chat()); });
  EXPECT_EQ(served_by(responses, "gpu") + served_by(responses, "cloud"), 36);
  EXPECT_GT(stack.sim_stats()["gpu"]["peak_generating"].get<int>(), 8);
}

TEST(Replicas, ProvisionedConcurrencyNeverExceedsMaxConcurrencyAcrossReplicas) {
  REQUIRE_REDIS();
  RedisServer redis;
  Stack stack(kSlowGpu, gateway(shared(redis)));
  Replica b(stack, 2);
  Replica c(stack, 3);
  // 3x the GPU's capacity at once, round robin over the replicas.
  const auto responses =
      concurrently(36, {stack.port(), b.port(), c.port()},
                   [](HttpClient& client) { return client.post("/v1/chat/completions", chat()); });
  EXPECT_EQ(served_by(responses, "gpu") + served_by(responses, "cloud"), 36);
  EXPECT_GE(served_by(responses, "gpu"), 8);  // the paid-for capacity was used
  const json gpu = stack.sim_stats()["gpu"];
  EXPECT_LE(gpu["peak_generating"].get<int>(), 8) << gpu.dump();
  EXPECT_GE(gpu["peak_generating"].get<int>(), 2) << gpu.dump();
  // Every slot came back.
  EXPECT_TRUE(eventually([&] { return slots_in_redis(redis, "gpu") == 0; }));
  EXPECT_EQ(stack.metric("fulcrum_state_backend_up", {{"backend", "redis"}}), 1);
}

TEST(Replicas, AHardBudgetHoldsAcrossReplicasWithinOneRequestsEstimate) {
  REQUIRE_REDIS();
  RedisServer redis;
  // Serverless only, $0.001 per token: each request costs about a cent.
  Stack stack(kSlowGpu, gateway(shared(redis), R"(
budgets:
  - {name: all, scope: global, period: daily, hard_usd: 0.1}
)",
                                "cloud/m"));
  Replica b(stack, 2);
  Replica c(stack, 3);
  double spent = 0;
  double dearest = 0;
  int refused = 0;
  for (int wave = 0; wave < 4; ++wave) {
    const auto responses = concurrently(
        12, {stack.port(), b.port(), c.port()},
        [](HttpClient& client) { return client.post("/v1/chat/completions", chat(10)); });
    for (const Response& r : responses) {
      if (r.status == 200) {
        spent += std::stod(r.header("x-fulcrum-cost-usd"));
        dearest = std::max(dearest, std::stod(r.header("x-fulcrum-cost-usd")));
      } else {
        ASSERT_EQ(r.status, 429u) << r.body;
        EXPECT_EQ(json::parse(r.body)["error"]["code"], "insufficient_quota") << r.body;
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(spent, 0.05);  // the budget was used, not refused from the start
  // What one replica alone would allow, it allows the fleet: overshoot at most what was in
  // flight when the last holds were taken, each within its estimate.
  EXPECT_LE(spent, 0.1 + dearest) << "spent " << spent;
  // Redis has the fleet's spend: every request counted once.
  const auto keys = redis.cli({"KEYS", "fulcrum:budget:all:*"});
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_TRUE(eventually([&] {
    const auto in_redis = spent_in_redis(redis, "all");
    return in_redis && std::abs(*in_redis - spent) < 1e-8;
  }));

  // Redis restarted empty does not forget the period: the first admission that reaches it
  // again tells it the spend the replica knows of (its own, and the fleet's as Redis last
  // reported it). That may not be the very next request: a renewal that ran while Redis was
  // down opens the circuit for a moment, and a request admitted then follows
  // on_state_unavailable (its replica's share of the budget).
  const double known = *b.metric("fulcrum_budget_spend_usd", {{"budget", "all"}});
  EXPECT_GT(known, 0.05);
  redis.kill();
  redis.start();
  HttpClient client(b.port());
  std::optional<double> restored;
  EXPECT_TRUE(eventually([&] {
    const Response after = client.post("/v1/chat/completions", chat(10));
    EXPECT_TRUE(after.status == 200u || after.status == 429u) << after.body;
    restored = spent_in_redis(redis, "all");
    if (!restored) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return restored.has_value();
  }));
  ASSERT_TRUE(restored);
  EXPECT_GE(*restored, known - 1e-9);
}

TEST(Replicas, AnRpmLimitHoldsAcrossReplicas) {
  REQUIRE_REDIS();
  RedisServer redis;
  const std::string key = "sk-replicas-test-key-0123456789";
  Stack stack(kSlowGpu,
              gateway(shared(redis), R"(
auth: {mode: required}
keys:
  - {id: app, sha256: )" + auth::to_hex(auth::sha256(key)) +
                                         R"(, rpm: 6}
)"),
              {});
  stack.add_secret(key);
  Replica b(stack, 2);
  Replica c(stack, 3);
  const std::vector<std::uint16_t> ports{stack.port(), b.port(), c.port()};
  int allowed = 0;
  for (int i = 0; i < 18; ++i) {
    HttpClient client(ports[i % 3]);
    const Response r =
        client.post("/v1/chat/completions", chat(), {{"authorization", "Bearer " + key}});
    if (r.status == 200) {
      ++allowed;
      continue;
    }
    ASSERT_EQ(r.status, 429u) << r.body;
    EXPECT_EQ(r.header("x-ratelimit-limit-requests"), "6");
    EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "0");
    EXPECT_FALSE(r.header("retry-after").empty());
  }
  // 6 a minute across the fleet (a seventh if a tenth of a minute passed meanwhile), where
  // three replicas alone would allow 18.
  EXPECT_GE(allowed, 6);
  EXPECT_LE(allowed, 7);
}

TEST(Replicas, RedisKilledMidLoadFallsBackToLocalSharesAndConvergesWhenBack) {
  REQUIRE_REDIS();
  RedisServer redis;
  Stack stack(kGatedGpu, gateway(shared(redis), kRoomyBudget));
  Replica b(stack, 2);
  Replica c(stack, 3);
  const std::vector<std::uint16_t> ports{stack.port(), b.port(), c.port()};
  std::vector<std::unique_ptr<Background>> held;
  // Two requests per replica held at the GPU: 6 of its 8 slots, leased in Redis.
  for (int i = 0; i < 6; ++i) held.push_back(std::make_unique<Background>(ports[i % 3], chat()));
  ASSERT_TRUE(eventually([&] { return stack.sim_held("gpu") == 6; }));
  EXPECT_EQ(slots_in_redis(redis, "gpu"), 6);

  redis.kill();
  // Each replica now admits its own share, 8 / 3 = 2, which it already has: the rest spill,
  // and nothing fails because Redis is gone.
  const auto during = concurrently(
      9, ports, [](HttpClient& client) { return client.post("/v1/chat/completions", chat()); });
  EXPECT_EQ(served_by(during, "cloud"), 9);
  double spent_meanwhile = 0;
  for (const Response& r : during) {
    if (r.status == 200) spent_meanwhile += std::stod(r.header("x-fulcrum-cost-usd"));
  }
  EXPECT_GT(spent_meanwhile, 0);
  EXPECT_EQ(stack.sim_held("gpu"), 6);
  EXPECT_GT(stack.metric("fulcrum_state_unavailable_total", {{"feature", "budgets"}}).value_or(0),
            0);
  EXPECT_EQ(stack.metric("fulcrum_state_backend_up", {{"backend", "redis"}}), 0);
  EXPECT_GT(stack.metric("fulcrum_state_unavailable_total", {{"feature", "capacity"}}).value_or(0),
            0);
  EXPECT_GT(stack
                .metric("fulcrum_state_backend_errors_total",
                        {{"backend", "redis"}, {"reason", "connection"}})
                .value_or(0),
            0);

  // Back, empty: each worker asserts the slots it holds at its next renewal.
  redis.start();
  EXPECT_TRUE(eventually([&] { return slots_in_redis(redis, "gpu") == 6; }));
  EXPECT_TRUE(eventually([&] {
    return stack.metric("fulcrum_state_backend_up", {{"backend", "redis"}}) == 1;
  }));
  // The spend the replicas' own books admitted meanwhile reaches Redis too.
  EXPECT_TRUE(eventually([&] {
    const auto in_redis = spent_in_redis(redis, "all");
    return in_redis && *in_redis >= spent_meanwhile - 1e-9;
  }));
  ASSERT_EQ(stack.sim_release("gpu"), 6);
  for (auto& request : held) {
    EXPECT_EQ(request->response().status, 200u);
    EXPECT_EQ(request->response().header("x-fulcrum-endpoint"), "gpu");
  }
  EXPECT_TRUE(eventually([&] { return slots_in_redis(redis, "gpu") == 0; }));
}

// Redis restarted empty: the first call to reach it may be a settle (spend owed from the
// outage, sent at the next renewal) rather than an admission. It too starts the period from
// the replica's book, so the spend before the outage is kept, not replaced by the owed part.
TEST(Replicas, ASettleThatReachesARestartedRedisFirstKeepsThePeriodsSpend) {
  REQUIRE_REDIS();
  RedisServer redis;
  Stack stack(kSlowGpu, gateway(shared(redis), kRoomyBudget, "cloud/m"));
  Replica b(stack, 2);
  Replica c(stack, 3);
  // Spend before the outage, in Redis. b's comes last: its admission reads the others' spend
  // from Redis, so b's book knows it all.
  const double spent_before = spend_in_turn(redis, {stack.port(), c.port(), b.port()});
  ASSERT_GT(spent_before, 0);

  redis.kill();
  // Only b spends meanwhile, admitted by its own book; the spend is owed to Redis.
  double spent_meanwhile = 0;
  for (int i = 0; i < 3; ++i) {
    HttpClient client(b.port());
    const Response r = client.post("/v1/chat/completions", chat());
    ASSERT_EQ(r.status, 200u) << r.body;
    spent_meanwhile += std::stod(r.header("x-fulcrum-marginal-cost-usd"));
  }
  EXPECT_GT(b.metric("fulcrum_state_unavailable_total", {{"feature", "budgets"}}).value_or(0), 0);

  // Back, empty, and nothing admitted: b's next renewal sends what it owes, which finds no
  // spend for the period and starts it from b's book.
  redis.start();
  std::optional<double> in_redis;
  EXPECT_TRUE(eventually([&] {
    in_redis = spent_in_redis(redis, "all");
    return in_redis && *in_redis >= spent_before + spent_meanwhile - 1e-9;
  })) << "before "
      << spent_before << ", meanwhile " << spent_meanwhile << ", in Redis "
      << in_redis.value_or(-1);
}

// The same when the settle is that of a request admitted through Redis and still in flight
// when Redis restarted: it starts the period from the replica's book as it is when the
// request ends, not as it was when the request was admitted.
TEST(Replicas, AnInFlightRequestsSettleStartsARestartedRedisFromTheBookAsItIsThen) {
  REQUIRE_REDIS();
  RedisServer redis;
  Stack stack(kGatedGpu, gateway(shared(redis), kRoomyBudget));
  Replica b(stack, 2);
  Replica c(stack, 3);
  // b holds all 8 of the GPU's slots at its gate, admitted through Redis.
  std::vector<std::unique_ptr<Background>> held;
  for (int i = 0; i < 8; ++i) held.push_back(std::make_unique<Background>(b.port(), chat()));
  ASSERT_TRUE(eventually([&] { return stack.sim_held("gpu") == 8; }));
  // Then the fleet spends in the cloud, b last, so that b's book knows it all.
  const double spent = spend_in_turn(redis, {stack.port(), c.port(), b.port()});
  ASSERT_GT(spent, 0);

  redis.kill();
  redis.start();
  // b's requests end: their settles are the first spend to reach the new Redis.
  ASSERT_EQ(stack.sim_release("gpu"), 8);
  for (auto& request : held) EXPECT_EQ(request->response().status, 200u);
  std::optional<double> in_redis;
  EXPECT_TRUE(eventually([&] {
    in_redis = spent_in_redis(redis, "all");
    return in_redis && *in_redis >= spent - 1e-9;
  })) << "spent "
      << spent << ", in Redis " << in_redis.value_or(-1);
}

TEST(Replicas, AReplicaKilledWhileHoldingSlotsGivesThemBackWithinTheLeaseTime) {
  REQUIRE_REDIS();
  RedisServer redis;
  Stack stack(kGatedGpu, gateway(shared(redis)));
  auto doomed = std::make_unique<Replica>(stack, 2);
  std::vector<std::unique_ptr<Background>> held;
  for (int i = 0; i < 8; ++i) held.push_back(std::make_unique<Background>(doomed->port(), chat()));
  ASSERT_TRUE(eventually([&] { return stack.sim_held("gpu") == 8; }));

  doomed->kill();
  // Its slots outlive it for now: the fleet is full.
  {
    HttpClient client(stack.port());
    const Response r = client.post("/v1/chat/completions", chat());
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("x-fulcrum-endpoint"), "cloud");
  }
  // Within the lease time (2s) they stop counting: a request reaches the GPU again (and
  // waits at its gate).
  std::vector<std::unique_ptr<Background>> probes;
  const bool reached = eventually(
      [&] {
        probes.push_back(std::make_unique<Background>(stack.port(), chat()));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        return stack.sim_held("gpu") > 8;
      },
      std::chrono::seconds(4));
  EXPECT_TRUE(reached);
  stack.sim_release("gpu");
  int on_gpu = 0;
  for (auto& probe : probes) {
    EXPECT_EQ(probe->response().status, 200u);
    if (probe->response().header("x-fulcrum-endpoint") == "gpu") ++on_gpu;
  }
  EXPECT_GE(on_gpu, 1);
}

TEST(Replicas, CircuitBreakersAreEachReplicasOwn) {
  // Measured, as docs/scale-out.md states it: a dead endpoint costs `failures` attempts on
  // each replica before every breaker is open; after that, none.
  REQUIRE_REDIS();
  RedisServer redis;
  Stack stack("endpoints: {cloud: {listen: 127.0.0.1:0}}", R"(endpoints:
  down:
    kind: serverless
    base_url: http://${closed}/v1
    pricing: {m: {input: 0.01, output: 0.01}}
    circuit_breaker: {failures: 3, cooldown: 60s}
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {m: {input: 1, output: 2}}
models:
  m: {targets: [down/m, cloud/m]}
)" + shared(redis));
  Replica b(stack, 2);
  Replica c(stack, 3);
  const std::vector<std::uint16_t> ports{stack.port(), b.port(), c.port()};
  for (int i = 0; i < 30; ++i) {
    HttpClient client(ports[i % 3]);
    const Response r = client.post("/v1/chat/completions", chat());
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("x-fulcrum-endpoint"), "cloud");
  }
  const auto fallbacks = [](const std::optional<double>& v) { return v.value_or(0); };
  const std::map<std::string, std::string> from_down{{"from", "down"}, {"reason", "connect"}};
  const double a_count = fallbacks(stack.metric("fulcrum_fallbacks_total", from_down));
  const double b_count = fallbacks(b.metric("fulcrum_fallbacks_total", from_down));
  const double c_count = fallbacks(c.metric("fulcrum_fallbacks_total", from_down));
  EXPECT_EQ(a_count, 3);
  EXPECT_EQ(b_count, 3);
  EXPECT_EQ(c_count, 3);
}

constexpr const char* kPostgresLedger = R"(
ledger:
  path: ${ledger}
  postgres: {url_env: FULCRUM_LEDGER_URL}
)";

TEST(Replicas, EveryRowOfEveryReplicaIsInPostgresOnceAcrossAnOutage) {
  REQUIRE_POSTGRES();
  PostgresServer postgres;
  const std::map<std::string, std::string> env{{"FULCRUM_LEDGER_URL", postgres.url()}};
  Stack stack("endpoints: {gpu: {listen: 127.0.0.1:0}, cloud: {listen: 127.0.0.1:0}}",
              gateway("", kPostgresLedger), env);
  Replica b(stack, 2, env);
  Replica c(stack, 3, env);
  const std::vector<std::uint16_t> ports{stack.port(), b.port(), c.port()};
  std::set<std::string> served;  // request ids
  const auto load = [&](int requests) {
    for (int i = 0; i < requests; ++i) {
      HttpClient client(ports[i % 3]);
      const Response r = client.post("/v1/chat/completions", chat());
      ASSERT_EQ(r.status, 200u) << r.body;  // the ledger never fails a request
      served.insert(r.header("x-fulcrum-request-id"));
    }
  };
  load(30);
  ASSERT_TRUE(eventually([&] {
    return postgres.query("SELECT COUNT(*) FROM requests") == std::vector<std::string>{"30"};
  }));

  // PostgreSQL away for 10 s while requests go on: their rows wait in each replica's spool.
  postgres.stop();
  const auto away_until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int during = 0;
  while (std::chrono::steady_clock::now() < away_until) {
    load(3);
    during += 3;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(*stack.metric("fulcrum_ledger_spool_rows", {}), 0);
  postgres.start();
  load(30);

  // Every row once: the spools drain, nothing is lost or doubled.
  const std::string expected = std::to_string(60 + during);
  EXPECT_TRUE(eventually(
      [&] {
        return postgres.query("SELECT COUNT(*) FROM requests") ==
               std::vector<std::string>{expected};
      },
      std::chrono::seconds(15)));
  EXPECT_EQ(postgres.query("SELECT COUNT(DISTINCT request_id) FROM requests"),
            std::vector<std::string>{expected});
  const auto ids = postgres.query("SELECT request_id FROM requests");
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), served);
  EXPECT_EQ(stack.metric("fulcrum_ledger_spool_rows", {}), 0);
  EXPECT_EQ(b.metric("fulcrum_ledger_spool_rows", {}), 0);
  EXPECT_EQ(postgres.query("SELECT version FROM fulcrum_schema"),
            std::vector<std::string>{std::to_string(metering::PostgresLedger::kSchemaVersion)});

  // The CLI reads the same ledger through the config.
  Process exported(
      {fulcrum_binary(), "ledger", "export", "--config", stack.config_path(), "--format", "jsonl"},
      env);
  exported.wait_exit();
  int rows = 0;
  for (const auto& line : exported.lines()) {
    if (line.starts_with("{")) {
      ++rows;
      EXPECT_TRUE(served.count(json::parse(line)["request_id"].get<std::string>())) << line;
    }
  }
  EXPECT_EQ(std::to_string(rows), expected);
}

TEST(PostgresLedgerReads, AReadCutShortSaysSo) {
  REQUIRE_POSTGRES();
  PostgresServer postgres;
  TempDir spool_dir("spool");
  {  // A gateway's writer creates the schema and stores a row.
    auto spool = metering::SqliteLedger::open(spool_dir.file("spool.db"));
    ASSERT_TRUE(spool);
    auto writer =
        metering::PostgresLedger::open(core::Secret(postgres.url()), std::move(*spool), 100);
    metering::LedgerRow row;
    row.set_request_id("req-1");
    row.started_ms = row.finished_ms = 1000;
    row.endpoint = "gpu";
    row.outcome = "success";
    row.route = "default";
    row.slo_class = "batch";
    row.ttft_ms = 120.5;
    row.duration_ms = 900;
    ASSERT_TRUE(writer->append({row}));
  }
  auto reader = metering::PostgresLedger::connect(core::Secret(postgres.url()));
  ASSERT_TRUE(reader);
  std::ostringstream whole;
  EXPECT_EQ((*reader)->export_rows(0, metering::ExportFormat::jsonl, whole), 1u);
  EXPECT_TRUE((*reader)->complete());
  // What the replay reads of it (fulcrum replay on a PostgreSQL ledger).
  std::size_t read = 0;
  (*reader)->for_each_usage(0, 1'000'000, [&](const metering::UsageRecord& r) {
    ++read;
    EXPECT_EQ(r.finished_ms, 1000);
    EXPECT_EQ(r.route, "default");
    EXPECT_EQ(r.slo_class, "batch");
    EXPECT_EQ(r.outcome, "success");
    EXPECT_DOUBLE_EQ(r.ttft_ms, 120.5);
    EXPECT_DOUBLE_EQ(r.duration_ms, 900);
  });
  EXPECT_EQ(read, 1u);
  EXPECT_TRUE((*reader)->complete());
  // The database goes away under an open reader: what it read is not the ledger.
  postgres.stop();
  std::ostringstream cut;
  (*reader)->export_rows(0, metering::ExportFormat::jsonl, cut);
  EXPECT_FALSE((*reader)->complete());
  std::size_t visited = 0;
  (*reader)->for_each_usage(0, 1'000'000, [&](const metering::UsageRecord&) { ++visited; });
  EXPECT_FALSE((*reader)->complete());
  EXPECT_EQ(visited, 0u);
}

}  // namespace
}  // namespace fulcrum::testing
