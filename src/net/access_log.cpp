#include "access_log.hpp"

#include <spdlog/spdlog.h>

namespace fulcrum::net {

void log_access(const AccessRecord& r) {
  const api::Usage usage = r.usage.value_or(api::Usage{});
  spdlog::info(
      "access request_id={} op={} model={} endpoint={} status={} outcome={} stream={} "
      "attempts={} tokens_in={} tokens_cached={} tokens_out={} usage={} cost_usd={} "
      "duration_ms={:.2f} ttft_ms={}",
      r.request_id, r.operation, r.alias.empty() ? "-" : r.alias,
      r.endpoint.empty() ? "-" : r.endpoint, r.status, metering::to_string(r.outcome), r.stream,
      r.attempts, usage.input, usage.cached_input, usage.output,
      r.usage ? "reported" : "missing", r.cost.to_decimal(), r.duration_ms,
      r.ttft_ms ? fmt::format("{:.2f}", *r.ttft_ms) : std::string("-"));
}

}  // namespace fulcrum::net
