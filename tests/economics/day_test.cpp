// One simulated day of mixed traffic through a real gateway, as a user would judge a policy
// (issue #19): fulcrum-sim plays a continuous-batching GPU unit (16 slots, queueing beyond)
// and a serverless API that cold-starts after idling; a client replays the day's arrivals and
// measures each request's time to first token; cost comes from the upstreams' own logs (the
// sim's token counts at the serverless price, the unit's hourly price over the day).
//
// The day: 24 hours compressed into 72 seconds (1 hour = 3 s), diurnal load in "units' worth"
// (1.0 = what keeps one unit's 16 slots busy) peaking at 2.5 in the afternoon, with a morning
// burst; 20% realtime (800 ms TTFT target), 60% standard (2 s), 20% batch (15 s: 5 hours of
// the day, as the 60 s at 300x). Requests generate 24 to 56 tokens at 40 tokens/s.
// Serverless output is priced so that one unit breaks even at 50% utilization.
//
// Three policies on the same trace: all serverless; one unit whose classes outside the headroom
// never wait (max_queue_wait 0: they spill the moment their share is full, as every class
// outside a headroom did before this issue); one unit with waiting. The result table is
// printed and written to day-results.md in the test's working directory.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "../support/temp_dir.hpp"

namespace fulcrum::testing {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr double kDaySeconds = 72;  // 24 h
constexpr double kHourSeconds = kDaySeconds / 24;
constexpr unsigned kUnitSlots = 16;
constexpr double kTokensPerSecond = 40;  // per request, on the unit
constexpr double kMeanHoldSeconds = 0.05 + 40 / kTokensPerSecond;
constexpr double kUnitHourlyUsd = 2.0;
// One unit's hour buys what half its slots generate in an hour, served serverless.
constexpr double kOutputUsdPerMillion =
    kUnitHourlyUsd / (3600 * kUnitSlots * 0.5 * kTokensPerSecond) * 1e6;

// Units' worth of load at each hour of the day.
constexpr double kProfile[24] = {0.5, 0.45, 0.4, 0.4, 0.4, 0.45, 0.6, 0.9, 1.8, 1.2, 1.1, 1.1,
                                 1.1, 1.2,  1.5, 2.5, 1.5, 1.1,  1.0, 0.9, 0.8, 0.7, 0.6, 0.55};

struct Slo {
  std::string name;
  double ttft = 0;
  double e2e = 0;
};
const Slo kClasses[] = {{"realtime", 0.8, 30}, {"standard", 2, 60}, {"batch", 15, 120}};

struct Arrival {
  double at = 0;  // seconds into the day
  std::size_t slo = 0;
  unsigned output_tokens = 0;
};

double units_at(double t) {
  const double hour = t / kHourSeconds;
  const auto h = static_cast<std::size_t>(hour) % 24;
  const double f = hour - std::floor(hour);
  return kProfile[h] * (1 - f) + kProfile[(h + 1) % 24] * f;
}

// A Poisson process following the profile (thinning), the same every run.
std::vector<Arrival> day_trace() {
  std::mt19937_64 random(19);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::uniform_int_distribution<unsigned> tokens(24, 56);
  const double peak_rate = 2.5 * kUnitSlots / kMeanHoldSeconds;
  std::exponential_distribution<double> gap(peak_rate);
  std::vector<Arrival> trace;
  for (double t = gap(random); t < kDaySeconds; t += gap(random)) {
    const double rate = units_at(t) * kUnitSlots / kMeanHoldSeconds;
    if (uniform(random) * peak_rate > rate) continue;
    const double kind = uniform(random);
    trace.push_back({t, kind < 0.2 ? 0u : kind < 0.8 ? 1u : 2u, tokens(random)});
  }
  return trace;
}

struct Policy {
  std::string name;
  bool unit = true;
  std::string standard_wait = "0ms";
  std::string batch_wait = "0ms";
  std::string realtime_wait = "0ms";
};

std::string gateway_yaml(const Policy& policy) {
  std::ostringstream y;
  y << "slo_classes:\n"
    << "  realtime: {priority: 100, ttft: 800ms, e2e: 30s, max_queue_wait: " << policy.realtime_wait
    << "}\n"
    << "  standard: {priority: 50, ttft: 2s, e2e: 60s, max_queue_wait: " << policy.standard_wait
    << "}\n"
    << "  batch: {priority: 10, ttft: 15s, e2e: 120s, max_queue_wait: " << policy.batch_wait
    << "}\n"
    << "endpoints:\n"
    << "  cloud:\n"
    << "    kind: serverless\n"
    << "    base_url: http://${cloud}/v1\n"
    << "    pricing: {m: {input: 0, output: " << kOutputUsdPerMillion << "}}\n"
    << "    latency: {ttft: 150ms, per_output_token: 12ms}\n"
    << "    cold_start: {after_idle: 3s, p50: 1200ms, p95: 1500ms}\n";
  if (policy.unit) {
    y << "  gpu:\n"
      << "    kind: provisioned\n"
      << "    base_url: http://${gpu}/v1\n"
      << "    hourly_usd: " << kUnitHourlyUsd << "\n"
      << "    capacity: {max_concurrency: " << kUnitSlots
      << ", output_tokens_per_second: " << kUnitSlots * kTokensPerSecond << "}\n"
      << "    headroom: {fraction: 0.25, reserved_for: [realtime]}\n"
      << "    latency: {ttft: 50ms, per_output_token: 25ms}\n";
  }
  y << "models:\n"
    << "  llama: {targets: [cloud/m" << (policy.unit ? ", gpu/m" : "") << "]}\n";
  return y.str();
}

const char* kSim =
    "endpoints:\n"
    "  gpu: {listen: 127.0.0.1:0, ttft: 50ms, tokens_per_second: 40, max_concurrency: 16}\n"
    "  cloud: {listen: 127.0.0.1:0, ttft: 150ms, tokens_per_second: 80, cold_start: 1200ms, "
    "cold_after_idle: 3s}\n";

struct Served {
  unsigned status = 0;
  std::string endpoint;
  double ttft = 0;
  double e2e = 0;
};

struct ClassResult {
  unsigned requests = 0;
  unsigned met = 0;
  unsigned serverless = 0;
  double attainment() const { return requests == 0 ? 1 : static_cast<double>(met) / requests; }
};

// What `fulcrum replay` predicted from a run's own ledger and config.
struct Prediction {
  double cost = 0;
  double attainment[3] = {0, 0, 0};
};

struct DayResult {
  std::string policy;
  std::optional<Prediction> replayed;
  double cost = 0;              // from the upstreams' logs
  double ledger_cost = 0;       // as Fulcrum metered it
  double period_seconds = 0;    // first request sent to last answer read
  double unit_utilization = 0;  // the unit's tokens ÷ what its slots could generate
  ClassResult classes[3];
};

Served send(std::uint16_t port, const Arrival& arrival) {
  Served served;
  const json body = {{"model", "llama"},
                     {"max_tokens", arrival.output_tokens},
                     {"stream", true},
                     {"messages", {{{"role", "user"}, {"content", "summarise the day"}}}}};
  const auto sent = Clock::now();
  try {
    HttpClient client(port);
    const Response head = client.start("/v1/chat/completions", body.dump(),
                                       {{"x-fulcrum-priority", kClasses[arrival.slo].name}});
    served.status = head.status;
    served.endpoint = head.header("x-fulcrum-endpoint");
    bool first = true;
    while (const auto piece = client.next_piece()) {
      if (first && !piece->empty()) {
        served.ttft = std::chrono::duration<double>(Clock::now() - sent).count();
        first = false;
      }
    }
    if (client.broken()) served.status = 0;
  } catch (const std::exception&) {
    served.status = 0;
  }
  served.e2e = std::chrono::duration<double>(Clock::now() - sent).count();
  return served;
}

// Runs the real `fulcrum replay` of a policy's config on a run's ledger.
Prediction replay(const std::string& config_path, const std::string& ledger_path) {
  const std::string command = std::string(FULCRUM_BIN) + " replay --format json --config " +
                              config_path + " --ledger " + ledger_path;
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  char buffer[4096];
  while (const std::size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  if (pclose(pipe) != 0) throw std::runtime_error(command + " failed: " + out);
  const json report = json::parse(out);
  Prediction p;
  p.cost = report["total"]["predicted"]["usd"].get<double>();
  for (const json& c : report["classes"]) {
    for (std::size_t i = 0; i < 3; ++i) {
      if (c["slo_class"] == kClasses[i].name) {
        p.attainment[i] = c["predicted"]["attainment_percent"].get<double>() / 100;
      }
    }
  }
  return p;
}

// Where a run's ledger and config are kept for replays across policies.
struct Kept {
  std::string ledger;
  std::string config;
};

DayResult run_day(const Policy& policy, const std::vector<Arrival>& trace,
                  const std::optional<Kept>& keep = std::nullopt) {
  Stack stack(kSim, gateway_yaml(policy));
  std::vector<Served> served(trace.size());
  std::vector<std::thread> clients;
  clients.reserve(trace.size());
  const auto start = Clock::now();
  for (std::size_t i = 0; i < trace.size(); ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(trace[i].at)));
    clients.emplace_back([&, i] { served[i] = send(stack.port(), trace[i]); });
  }
  for (auto& client : clients) client.join();
  DayResult result;
  result.policy = policy.name;
  result.period_seconds =
      std::chrono::duration<double>(Clock::now() - start).count() - trace.front().at;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const Slo& slo = kClasses[trace[i].slo];
    ClassResult& c = result.classes[trace[i].slo];
    ++c.requests;
    if (served[i].status == 200 && served[i].ttft <= slo.ttft && served[i].e2e <= slo.e2e) ++c.met;
    if (served[i].endpoint == "cloud") ++c.serverless;
  }
  const json stats = stack.sim_stats();
  result.cost = stats["cloud"]["completion_tokens"].get<double>() * kOutputUsdPerMillion / 1e6;
  if (policy.unit) {
    result.cost += kUnitHourlyUsd * result.period_seconds / 3600;
    result.unit_utilization = stats["gpu"]["completion_tokens"].get<double>() /
                              (kUnitSlots * kTokensPerSecond * result.period_seconds);
  }
  stack.stop_gateway();
  for (const json& row : ledger_rows(stack.ledger_path())) {
    result.ledger_cost += row["cost_nano_usd"].get<double>() / 1e9;
  }
  if (policy.unit) result.replayed = replay(stack.config_path(), stack.ledger_path());
  if (keep) {
    std::filesystem::copy_file(stack.ledger_path(), keep->ledger);
    std::filesystem::copy_file(stack.config_path(), keep->config);
  }
  return result;
}

std::string table(const std::vector<DayResult>& results) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out << "| policy | day's cost | ÷ all-serverless | unit used | realtime SLO | standard | batch "
         "| on serverless: realtime, standard, batch | replay: cost, realtime |\n"
         "|---|---|---|---|---|---|---|---|---|\n";
  for (const DayResult& r : results) {
    out.precision(4);
    out << "| " << r.policy << " | $" << r.cost << " | ";
    out.precision(2);
    out << r.cost / results.front().cost << " | ";
    out.precision(0);
    out << 100 * r.unit_utilization << "% | ";
    out.precision(1);
    for (const ClassResult& c : r.classes) out << 100 * c.attainment() << "% | ";
    for (const ClassResult& c : r.classes) {
      out << c.serverless << " of " << c.requests << (&c == &r.classes[2] ? " | " : ", ");
    }
    if (r.replayed) {
      out.precision(4);
      out << "$" << r.replayed->cost << ", ";
      out.precision(1);
      out << 100 * r.replayed->attainment[0] << "% |\n";
    } else {
      out << "- |\n";
    }
  }
  return out.str();
}

TEST(Day, OneUnitWithWaitingHoldsTheSlosForUnder80PercentOfServerlessCost) {
  const std::vector<Arrival> trace = day_trace();
  ASSERT_GT(trace.size(), 500u);
  TempDir kept("day");
  const Kept no_waiting{kept.file("no-waiting.db"), kept.file("no-waiting.yaml")};
  const Kept with_waiting{kept.file("waiting.db"), kept.file("waiting.yaml")};
  std::vector<DayResult> results;
  results.push_back(run_day({"all serverless", false}, trace));
  results.push_back(run_day({"1 unit, no waiting", true}, trace, no_waiting));
  results.push_back(run_day({"1 unit, waiting (realtime 300ms, standard 1.5s, batch 13.5s)", true,
                             "1500ms", "13500ms", "300ms"},
                            trace, with_waiting));
  const std::string text = table(results);
  std::cout << trace.size() << " requests\n" << text;
  std::ofstream("day-results.md") << trace.size() << " requests\n\n" << text;

  for (const DayResult& r : results) {
    // The gateway metered what the upstream logged: the serverless tokens at their price.
    EXPECT_NEAR(
        r.ledger_cost,
        r.cost - (r.policy == "all serverless" ? 0 : kUnitHourlyUsd * r.period_seconds / 3600),
        1e-6)
        << r.policy;
  }
  const DayResult& serverless = results[0];
  const DayResult& before = results[1];  // no waiting
  const DayResult& waiting = results[2];
  EXPECT_LE(waiting.cost, 0.8 * serverless.cost);
  EXPECT_GE(waiting.classes[0].attainment(), 0.99);
  EXPECT_GE(waiting.classes[1].attainment(), 0.99);
  EXPECT_EQ(waiting.classes[2].met, waiting.classes[2].requests);
  ASSERT_GE(before.classes[2].serverless, 10u);  // else there is nothing to halve
  EXPECT_LE(2 * waiting.classes[2].serverless, before.classes[2].serverless);
  // `fulcrum replay` on each run's ledger predicts its cost within 5% and its realtime
  // attainment within a point.
  for (const DayResult* r : {&before, &waiting}) {
    ASSERT_TRUE(r->replayed) << r->policy;
    EXPECT_NEAR(r->replayed->cost, r->cost, 0.05 * r->cost) << r->policy;
    EXPECT_NEAR(r->replayed->attainment[0], r->classes[0].attainment(), 0.01) << r->policy;
  }
  // And before deploying it: the new policy replayed on the no-waiting run's ledger predicts
  // what the new policy then did.
  const Prediction ahead = replay(with_waiting.config, no_waiting.ledger);
  std::cout << "replay of the waiting policy on the no-waiting day: $" << ahead.cost
            << ", realtime " << 100 * ahead.attainment[0] << "%\n";
  EXPECT_NEAR(ahead.cost, waiting.cost, 0.05 * waiting.cost);
  EXPECT_NEAR(ahead.attainment[0], waiting.classes[0].attainment(), 0.01);
}

}  // namespace
}  // namespace fulcrum::testing
