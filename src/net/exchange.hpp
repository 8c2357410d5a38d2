#pragma once
// One proxied request as the data plane carries it from parse to meter: shared by the
// routing loop (proxy_routing.cpp) and the upstream exchange (proxy_handler.cpp).
#include <optional>
#include <string>

#include "fulcrum/api/error.hpp"
#include "fulcrum/api/request.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/auth/authenticator.hpp"
#include "fulcrum/metering/metrics.hpp"
#include "fulcrum/router/plan.hpp"
#include "proxy_handler.hpp"
#include "request_id.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

using TimePoint = core::Clock::time_point;

struct ProxyHandler::Exchange {
  std::shared_ptr<const Snapshot> snapshot;
  RequestId id;
  TimePoint started;
  unsigned version = 11;
  bool keep_alive = true;
  api::ParsedRequest request;
  const config::ModelAlias* alias = nullptr;  // as the client named it
  std::size_t alias_index = 0;
  auth::Principal principal;

  // Admission: what was reserved against rate limits and budgets, settled by meter().
  std::uint64_t reserved_tokens = 0;
  bool tokens_reserved = false;
  core::Money reserved_cost;
  bool cost_reserved = false;

  // The routing decision, and how the request got to the attempt under way.
  router::Plan plan;
  bool routed = false;
  std::string_view route_name;  // points into the snapshot's config
  std::string reason;           // x-fulcrum-reason: the plan's, or the fallback that led here
  std::optional<std::size_t> spilled_from;  // endpoint index, for fulcrum_spillover_total
  std::string_view spill_reason;

  // The attempt under way.
  const router::Candidate* candidate = nullptr;
  const config::Target* target = nullptr;
  const config::Endpoint* endpoint = nullptr;
  const metering::TargetMeters* meters = nullptr;
  config::Timeouts timeouts;  // the endpoint's, with the route's overrides
  TimePoint attempt_started;
  TimePoint deadline;

  // What the client got.
  std::optional<api::ApiError> failure;  // when Fulcrum answers in the upstream's place
  std::vector<std::pair<std::string, std::string>> failure_headers;
  unsigned status = 0;
  metering::Outcome outcome = metering::Outcome::success;
  std::optional<api::Usage> usage;
  bool usage_estimated = false;     // the upstream reported none: estimated from what passed
  std::size_t generated_chars = 0;  // text relayed, for that estimate
  std::uint64_t prompt_tokens = 0;  // estimated at routing
  core::Money cost;                 // marginal: what routing and budgets count
  core::Money chargeback;           // what the request is charged (ProxyHandler::charge)
  bool charged = false;
  std::optional<TimePoint> first_byte;
  unsigned attempts = 0;
  bool metered = false;

  template <class Head>
  void decision_headers(Head& head) const {
    head.set("x-fulcrum-request-id", id.view());
    if (endpoint != nullptr) head.set("x-fulcrum-endpoint", endpoint->name);
    if (routed) {
      head.set("x-fulcrum-route", route_name);
      head.set("x-fulcrum-reason", reason);
    }
  }
};

struct ProxyHandler::AttemptResult {
  enum class Kind {
    done,   // the client has its response (complete, passed-through error, or cut stream)
    retry,  // nothing reached the client: the next target may try
    stale,  // a reused keep-alive connection was found closed: try again on a fresh one
  };
  Kind kind = Kind::done;
  bool client_alive = true;  // with done: may the client connection carry another request?
  std::string_view reason;   // with retry: the fallbacks_total reason label
  std::string detail;        // with retry: for the client's error message and the log
  bool timed_out = false;
  unsigned status = 0;                // with retry: the upstream's HTTP status, if any
  bool late_answer_possible = false;  // with retry: given up at first_byte, socket still open
  std::optional<core::Duration> retry_after;  // with retry: the upstream's Retry-After

  static AttemptResult done(bool client_alive) {
    AttemptResult result;
    result.client_alive = client_alive;
    return result;
  }
  static AttemptResult retry(std::string_view reason, std::string detail, bool timed_out = false) {
    AttemptResult result;
    result.kind = Kind::retry;
    result.reason = reason;
    result.detail = std::move(detail);
    result.timed_out = timed_out;
    return result;
  }
  static AttemptResult stale() {
    AttemptResult result;
    result.kind = Kind::stale;
    return result;
  }
};

}  // namespace fulcrum::net
