#pragma once
#include <optional>
#include <string_view>

#include "fulcrum/api/usage.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/metering/metrics.hpp"

namespace fulcrum::net {

// The one access line per request. It names the request, never its prompt, completion or key.
struct AccessRecord {
  std::string_view request_id;
  std::string_view operation;
  std::string_view alias;     // "" when the request named no known alias
  std::string_view endpoint;  // "" when no target answered
  unsigned status = 0;
  metering::Outcome outcome = metering::Outcome::success;
  bool stream = false;
  unsigned attempts = 0;
  std::optional<api::Usage> usage;
  core::Money cost;
  double duration_ms = 0;
  std::optional<double> ttft_ms;
};

void log_access(const AccessRecord& record);

}  // namespace fulcrum::net
