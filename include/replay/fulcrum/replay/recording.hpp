#pragma once
// The traffic a replay runs: ledger rows read back as requests, with what the ledger records
// of each (arrival, class, tokens) and of how it went (endpoint, cost, what the client saw).
#include <cstdint>
#include <optional>
#include <string>

#include "fulcrum/core/money.hpp"
#include "fulcrum/core/usage.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::replay {

struct RecordedRequest {
  std::int64_t started_ms = 0;  // Unix time
  std::int64_t finished_ms = 0;
  std::string alias;
  std::string route;
  std::string slo_class;
  std::string endpoint;  // that served it, or the last one tried
  bool provisioned = false;
  core::Usage usage;
  core::Money cost;               // marginal, as charged
  std::optional<double> ttft_ms;  // from the request's start; none: no first byte
  double queued_ms = 0;           // of it, waited in the gateway for a provisioned slot
  double duration_ms = 0;
  bool success = false;  // outcome "success": the requests SLO attainment is judged on
  // A late answer read after its attempt was given up ("abandoned"): the request has its
  // own row, so this one is cost, not a request.
  bool late_answer = false;

  // The ledger does not say whether a request streamed. A stream's first byte comes before
  // the end; a whole answer's first byte is its end (within a few milliseconds of writing
  // it out), so a first byte clearly earlier than the end marks a stream.
  bool stream() const;
  // Its time to first token less its wait in the gateway: what the endpoint that served it
  // took (its prefill, and any queue of the engine's own).
  double served_ttft_ms() const { return ttft_ms.value_or(0) - queued_ms; }
};

RecordedRequest recorded(const metering::UsageRecord& row);

}  // namespace fulcrum::replay
