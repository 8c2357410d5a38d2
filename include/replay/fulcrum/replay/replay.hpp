#pragma once
// `fulcrum replay`: recorded requests run again, in simulated time, through the real router
// of another policy against a model of each endpoint learnt from the same ledger, and the
// predicted cost and SLO attainment per class set beside what actually happened.
//
// The simulation does what the gateway's proxy does, minus I/O: route (router::choose on a
// simulated LiveState), walk the plan (a capacity slot, or a wait in the endpoint's queue, or
// the next candidate), serve, and teach the live state what the answer showed. Endpoints are
// modelled from the ledger (time to first token, time per output token, cold starts) and
// the config (slots; beyond them a provisioned engine queues first come, first served).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/replay/recording.hpp"

namespace fulcrum::replay {

// How an endpoint answers in the simulation, and where that was learnt.
struct EndpointModel {
  std::string name;
  bool provisioned = false;
  double ttft_seconds = 0;  // warm, once generating
  double seconds_per_output_token = 0;
  unsigned slots = 0;  // provisioned: requests generating at once (0 = no limit); the rest queue
  std::optional<config::ColdStart> cold_start;  // serverless scale-to-zero: the config's
  double cold_start_seconds = 0;                // what a cold start adds to the first byte
  // Ledger rows each figure was learnt from; 0: the config's seed (`latency`, cold_start.p50).
  std::uint64_t ttft_rows = 0;
  std::uint64_t per_token_rows = 0;
  std::uint64_t cold_rows = 0;
};

struct ClassOutcome {
  std::string slo_class;
  double ttft_target_seconds = 0;
  double e2e_target_seconds = 0;
  std::uint64_t requests = 0;
  std::uint64_t provisioned = 0;  // served by a provisioned endpoint
  std::uint64_t serverless = 0;
  std::uint64_t unserved = 0;  // no candidate could take it (predicted only)
  // Predicted only (the ledger does not record them): left paid-for capacity for serverless,
  // and waited in the gateway for a slot (served there or not).
  std::optional<std::uint64_t> spilled;
  std::optional<std::uint64_t> waited;
  // Attainment is judged on the requests recorded as successes, in both columns: the ttft and
  // e2e targets met, as fulcrum_slo_violations_total counts them.
  std::uint64_t judged = 0;
  std::uint64_t met = 0;
  double serverless_usd = 0;
  std::optional<double> ttft_p50_seconds;
  std::optional<double> ttft_p95_seconds;

  // Met / judged, in percent; 100 when nothing was judged.
  double attainment_percent() const;
};

struct Totals {
  double usd = 0;  // serverless + provisioned
  double serverless_usd = 0;
  double provisioned_usd = 0;         // each provisioned endpoint's hourly_usd × the period
  std::vector<ClassOutcome> classes;  // by the policy's SLO classes; those with requests
};

struct EndpointOutcome {
  EndpointModel model;
  std::uint64_t requests = 0;  // predicted to be served here
  double usd = 0;              // serverless: tokens × prices; provisioned: its hours
  double busy_slot_seconds = 0;
  std::optional<double> utilization;  // provisioned with slots: slot-seconds used / offered
  unsigned peak_waiting = 0;          // most requests waiting in the gateway for it at once
  std::uint64_t cold_starts = 0;
};

struct Replay {
  std::int64_t since_ms = 0;
  std::int64_t until_ms = 0;
  double hours = 0;
  std::uint64_t rows = 0;           // ledger rows in the period
  std::uint64_t replayed = 0;       // requests run through the policy
  std::uint64_t unknown_alias = 0;  // rows of aliases the policy lacks: left out of both columns
  std::uint64_t late_answers = 0;   // rows of late answers: in the actual cost, not replayed
  Totals predicted;
  Totals actual;
  // Where the actual provisioned hours were priced: "baseline" (--baseline-config) or
  // "policy" (the policy's endpoints of the same name, for those the ledger shows serving).
  std::string actual_units_priced_by;
  std::vector<std::string> unpriced_units;  // provisioned in the ledger, not in that config
  std::vector<EndpointOutcome> endpoints;   // the policy's
};

struct ReplayOptions {
  // The recorded run's config: its provisioned endpoints price the actual column, and its
  // prewarm windows tell cold rows from warm ones. None: the policy stands in.
  const config::Config* baseline = nullptr;
  // The period; none: from the first arrival to the last finish of the rows.
  std::optional<std::int64_t> since_ms;
  std::optional<std::int64_t> until_ms;
};

// What the replay assumes, sentence by sentence, for whoever shows its result.
struct Assumption {
  const char* key;
  const char* text;
};
std::span<const Assumption> assumptions();

// `requests` oldest first, as the ledger gives them.
Replay replay(const std::vector<RecordedRequest>& requests, const config::Config& policy,
              const ReplayOptions& options = {});

}  // namespace fulcrum::replay
