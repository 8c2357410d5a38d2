#include "access_log.hpp"

#include <fmt/chrono.h>
#include <fmt/compile.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>

namespace fulcrum::net {
namespace {

constexpr std::size_t kPipeAtomicWrite = 4096;  // PIPE_BUF on Linux

}  // namespace

void AccessLog::append(const AccessRecord& r) {
  const core::Usage usage = r.usage.value_or(core::Usage{});
  const auto now = std::chrono::system_clock::now();
  const std::int64_t millis_since_epoch =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::int64_t second = millis_since_epoch / 1000;
  if (second != stamped_second_) {
    stamped_second_ = second;
    fmt::format_to_n(stamp_, sizeof stamp_, "{:%Y-%m-%dT%H:%M:%S}",
                     fmt::gmtime(static_cast<std::time_t>(second)));
  }
  // Compiled formats: parsing the format string at run time was a third of this line's cost.
  fmt::format_to(fmt::appender(buffer_),
                 FMT_COMPILE("{}.{:03}Z info access request_id={} op={} model={} endpoint={} "
                             "route={} slo_class={} reason=\"{}\" status={} outcome={} stream={} "
                             "attempts={} tokens_in={} "
                             "tokens_cached={} "
                             "tokens_out={} usage={} cost_usd={} duration_ms={:.2f} ttft_ms="),
                 std::string_view(stamp_, 19), millis_since_epoch % 1000, r.request_id, r.operation,
                 r.alias.empty() ? "-" : r.alias, r.endpoint.empty() ? "-" : r.endpoint,
                 r.route.empty() ? "-" : r.route, r.slo_class.empty() ? "-" : r.slo_class, r.reason,
                 r.status, metering::to_string(r.outcome), r.stream, r.attempts, usage.input,
                 usage.cached_input, usage.output, r.usage ? "reported" : "missing",
                 r.cost.decimal().view(), r.duration_ms);
  if (r.ttft_ms) {
    fmt::format_to(fmt::appender(buffer_), FMT_COMPILE("{:.2f}\n"), *r.ttft_ms);
  } else {
    buffer_.append(std::string_view("-\n"));
  }
  if (buffer_.size() >= kPipeAtomicWrite) flush();
}

void AccessLog::flush() {
  std::string_view pending(buffer_.data(), buffer_.size());
  while (!pending.empty()) {
    // Whole lines, at most PIPE_BUF bytes per write (a longer single line goes alone).
    std::size_t take = pending.size();
    if (take > kPipeAtomicWrite) {
      const auto cut = pending.rfind('\n', kPipeAtomicWrite - 1);
      take = cut == std::string_view::npos ? pending.find('\n') + 1 : cut + 1;
    }
    const ssize_t written = ::write(STDOUT_FILENO, pending.data(), take);
    // A full pipe blocks this write (a slow reader of stdout slows its worker, by at most
    // this flush); an error (stdout closed) drops the lines rather than spin.
    if (written <= 0) break;
    pending.remove_prefix(static_cast<std::size_t>(written));
  }
  buffer_.clear();
}

}  // namespace fulcrum::net
