#include "access_log.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>

namespace fulcrum::net {
namespace {

constexpr std::size_t kPipeAtomicWrite = 4096;  // PIPE_BUF on Linux

}  // namespace

void AccessLog::append(const AccessRecord& r) {
  const api::Usage usage = r.usage.value_or(api::Usage{});
  const auto now = std::chrono::system_clock::now();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  auto out = std::back_inserter(buffer_);
  fmt::format_to(
      out,
      "{:%Y-%m-%dT%H:%M:%S}.{:03}Z info access request_id={} op={} model={} endpoint={} "
      "route={} slo_class={} reason=\"{}\" status={} outcome={} stream={} attempts={} tokens_in={} "
      "tokens_cached={} "
      "tokens_out={} usage={} cost_usd={} duration_ms={:.2f} ttft_ms=",
      fmt::gmtime(std::chrono::system_clock::to_time_t(now)), millis, r.request_id, r.operation,
      r.alias.empty() ? "-" : r.alias, r.endpoint.empty() ? "-" : r.endpoint,
      r.route.empty() ? "-" : r.route, r.slo_class.empty() ? "-" : r.slo_class, r.reason, r.status,
      metering::to_string(r.outcome), r.stream, r.attempts, usage.input, usage.cached_input,
      usage.output, r.usage ? "reported" : "missing", r.cost.to_decimal(), r.duration_ms);
  if (r.ttft_ms) {
    fmt::format_to(out, "{:.2f}\n", *r.ttft_ms);
  } else {
    buffer_ += "-\n";
  }
  if (buffer_.size() >= kPipeAtomicWrite) flush();
}

void AccessLog::flush() {
  std::string_view pending = buffer_;
  while (!pending.empty()) {
    // Whole lines, at most PIPE_BUF bytes per write (a longer single line goes alone).
    std::size_t take = pending.size();
    if (take > kPipeAtomicWrite) {
      const auto cut = pending.rfind('\n', kPipeAtomicWrite - 1);
      take = cut == std::string_view::npos ? pending.find('\n') + 1 : cut + 1;
    }
    const ssize_t written = ::write(STDOUT_FILENO, pending.data(), take);
    if (written <= 0) break;  // stdout gone: drop the lines rather than stall a worker
    pending.remove_prefix(static_cast<std::size_t>(written));
  }
  buffer_.clear();
}

}  // namespace fulcrum::net
