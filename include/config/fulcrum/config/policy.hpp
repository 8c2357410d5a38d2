#pragma once
// The routing policy part of the configuration: SLO classes, routes, strategies, retries and
// the complexity classifier. Value types only; the router interprets them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/schedule.hpp"
#include "fulcrum/core/time_zone.hpp"

namespace fulcrum::config {

struct SloClass {
  std::string name;
  int priority = 0;  // higher is more important
  core::Duration ttft = std::chrono::seconds(2);
  core::Duration e2e = std::chrono::seconds(60);
  // How long a request of this class may wait in the gateway for a slot on a full
  // provisioned endpoint before it spills to serverless instead.
  core::Duration max_queue_wait{0};
  // A wait is planned only while the time to first token it predicts (wait + prefill) stays
  // this far inside the ttft target; unset: a tenth of ttft.
  std::optional<core::Duration> wait_margin;
  core::Duration margin() const { return wait_margin.value_or(ttft / 10); }
};

enum class Strategy { cheapest_meeting_slo, lowest_latency, weighted, ordered };
const char* to_string(Strategy strategy);

// What a retry (or a move to the next target) may be triggered by.
enum class RetryOn : std::uint8_t {
  connect = 1 << 0,  // connect failure or reset before a response
  timeout = 1 << 1,  // connect, first-byte or body timeout
  status_5xx = 1 << 2,
  status_429 = 1 << 3,
};

struct RetryPolicy {
  unsigned max = 0;  // extra attempts on the same target before moving on
  std::uint8_t on = static_cast<std::uint8_t>(RetryOn::connect) |
                    static_cast<std::uint8_t>(RetryOn::timeout) |
                    static_cast<std::uint8_t>(RetryOn::status_5xx) |
                    static_cast<std::uint8_t>(RetryOn::status_429);
  core::Duration backoff_base = std::chrono::milliseconds(100);
  core::Duration backoff_max = std::chrono::seconds(2);
  // A Retry-After longer than this is not waited for: the next target is tried instead.
  core::Duration max_retry_after = std::chrono::seconds(5);

  bool retries_on(RetryOn what) const { return on & static_cast<std::uint8_t>(what); }
};

// How many attempts beyond each request's first the gateway may make (top-level
// `retry_budget`): within `ratio` of the requests of the last `window`, or within
// `min_per_second` × window when that is more.
struct RetryBudgetPolicy {
  static constexpr std::uint32_t kMaxWindowSeconds = 60;

  double ratio = 0.2;
  double min_per_second = 1;
  std::uint32_t window_seconds = 10;
};

// Timeouts a route sets over its endpoints' own; absent fields keep the endpoint's.
struct TimeoutOverrides {
  std::optional<core::Duration> connect;
  std::optional<core::Duration> first_byte;
  std::optional<core::Duration> idle;
  std::optional<core::Duration> total;
};

struct TimeWindow {
  core::TimeZone zone;
  core::DailyWindow window;
};

struct HeaderMatch {
  std::size_t header = 0;           // index into Config::route_headers
  std::vector<std::string> values;  // any of these, exactly
};

struct RouteMatch {
  std::vector<std::size_t> aliases;  // indexes into Config::models; empty = any
  std::vector<HeaderMatch> headers;  // all must match
  std::optional<std::uint64_t> min_prompt_tokens;
  std::optional<std::uint64_t> max_prompt_tokens;
  std::optional<TimeWindow> time;
  std::vector<std::size_t> tiers;  // classifier tier indexes; empty = any
};

struct Route {
  std::string name;
  RouteMatch match;
  std::size_t slo = 0;  // index into Config::slo_classes: the default class of its requests
  Strategy strategy = Strategy::cheapest_meeting_slo;
  std::vector<std::size_t> fallback;  // aliases tried after the request's own alias's targets
  RetryPolicy retries;
  TimeoutOverrides timeouts;
  // SLO classes (Config::slo_classes indexes) sent at the flex tier (service_tier: flex) on
  // targets that have flex prices; a flex attempt refused with 429 or timing out before its
  // first byte is tried once more on the same target at the normal tier.
  std::vector<std::size_t> flex_for;
};

// The complexity scorer: score = Σ weight × feature; the tier is the last whose lower bound
// the score reaches.
struct Classifier {
  struct Weights {
    double per_1k_tokens = 1.0;    // estimated prompt tokens / 1000
    double code_block = 1.0;       // per fenced code block
    double keyword = 1.0;          // per reasoning or multi-step marker found
    double tools = 1.5;            // tools or functions present
    double response_format = 0.5;  // structured output requested
    double turn = 0.1;             // per message beyond the first
  };
  struct Tier {
    std::string name;
    double min_score = 0;
  };
  Weights weights;
  std::vector<std::string> keywords;  // lower case; matched case-insensitively
  std::vector<Tier> tiers;            // ascending min_score; the first starts at 0
};

}  // namespace fulcrum::config
