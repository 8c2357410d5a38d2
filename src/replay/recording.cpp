#include "fulcrum/replay/recording.hpp"

#include <algorithm>

namespace fulcrum::replay {
namespace {

// Writing a whole answer out after its first byte takes a few milliseconds at most; a stream
// spends its generation between the first byte and the end.
constexpr double kWholeAnswerWriteMs = 5;
constexpr double kWholeAnswerWriteFraction = 0.02;

}  // namespace

bool RecordedRequest::stream() const {
  if (!ttft_ms) return false;
  return duration_ms - *ttft_ms >
         std::max(kWholeAnswerWriteMs, kWholeAnswerWriteFraction * duration_ms);
}

RecordedRequest recorded(const metering::UsageRecord& row) {
  RecordedRequest r;
  r.started_ms = row.started_ms;
  r.finished_ms = row.finished_ms;
  r.alias = row.alias;
  r.route = row.route;
  r.slo_class = row.slo_class;
  r.endpoint = row.endpoint;
  r.provisioned = row.endpoint_kind == "provisioned";
  r.usage = core::Usage{.input = row.input_tokens,
                        .cached_input = row.cached_tokens,
                        .cache_write = row.cache_write_tokens,
                        .output = row.output_tokens};
  r.cost = row.cost;
  if (row.ttft_ms >= 0) r.ttft_ms = row.ttft_ms;
  r.duration_ms = row.duration_ms;
  r.queued_ms = row.queued_ms;
  r.success = row.outcome == "success";
  r.late_answer = row.outcome == "abandoned";
  return r;
}

}  // namespace fulcrum::replay
