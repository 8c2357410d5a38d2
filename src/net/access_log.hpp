#pragma once
// The one access line per request. It names the request, never its prompt, completion or key.
#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fulcrum/api/usage.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/metering/metrics.hpp"

namespace fulcrum::net {

struct AccessRecord {
  std::string_view request_id;
  std::string_view operation;
  std::string_view alias;     // "" when the request named no known alias
  std::string_view endpoint;  // "" when no target answered
  std::string_view route;     // "" when the request was never routed
  std::string_view slo_class;
  std::string_view reason;  // x-fulcrum-reason
  unsigned status = 0;
  metering::Outcome outcome = metering::Outcome::success;
  bool stream = false;
  unsigned attempts = 0;
  std::optional<core::Usage> usage;
  core::Money cost;
  double duration_ms = 0;
  std::optional<double> ttft_ms;
};

// One per worker thread, used by that thread only: lines collect in memory and reach stdout
// in whole-line writes of at most PIPE_BUF bytes (atomic on pipes, so they never interleave
// with other log output), when the buffer fills or the worker's flush timer fires. Handing
// every line to a logging thread instead cost a futex wake per request.
class AccessLog {
 public:
  void append(const AccessRecord& record);
  void flush();

 private:
  fmt::memory_buffer buffer_;
  // "YYYY-MM-DDTHH:MM:SS" of the second last written: formatted once a second, not per line.
  std::int64_t stamped_second_ = -1;
  char stamp_[20] = {};
};

}  // namespace fulcrum::net
