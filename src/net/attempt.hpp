#pragma once
// One upstream try of a client request (Envoy's UpstreamRequest): one target, its timeouts,
// its connection and its relay. It either answers the client (a relayed response, a passed-
// through upstream 4xx, or a stream cut after its first byte) or fails before any byte
// reached the client, so that the request may try again elsewhere.
#include <optional>
#include <string>
#include <string_view>

#include "fulcrum/api/request.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/metering/metrics.hpp"
#include "fulcrum/net/client_reply.hpp"
#include "fulcrum/provider/provider.hpp"
#include "fulcrum/router/plan.hpp"
#include "fulcrum/router/retry_policy.hpp"
#include "runtime.hpp"
#include "upstream_pool.hpp"

namespace fulcrum::net {

using TimePoint = core::Clock::time_point;

// What an answer costs: `marginal` is what routing and budgets count (tokens x price, 0 for
// provisioned capacity), `charged` what the request is charged (provisioned: its amortized
// share of the hourly price).
struct Charge {
  core::Money marginal;
  core::Money charged;
};

// What the client got from an attempt that answered.
struct Answer {
  unsigned status = 0;
  metering::Outcome outcome = metering::Outcome::success;
  std::optional<core::Usage> usage;     // as the upstream reported it
  std::size_t generated_chars = 0;      // text relayed: estimates usage when none was reported
  std::optional<TimePoint> first_byte;  // when the client got its first byte
  std::string response_id;  // Responses API: the id the upstream stored the response under
};

// The request's side of an answer. Called once, before the answer's last bytes leave, so a
// client that has read its response can already see it in /metrics and the ledger; returns
// what the answer is charged (for the cost headers).
class AnswerListener {
 public:
  virtual Charge on_answer(const Answer& answer) = 0;
  // An attempt given up at its first_byte timeout whose socket is still open: the upstream
  // may still answer, and its tokens are spent either way (late_answer.hpp).
  virtual void on_abandoned(std::unique_ptr<UpstreamConnection> connection,
                            TimePoint attempt_started, TimePoint deadline) = 0;

 protected:
  ~AnswerListener() = default;
};

// An upstream's own refusal (429 or 5xx), kept for the client's error should every target fail:
// its body (every secret scrubbed), content type and the headers clients read.
struct UpstreamRefusal {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct AttemptResult {
  bool answered = false;
  bool client_alive = true;  // answered: whether the connection may carry another request
  // Not answered: why, for the retry decision, the fallbacks_total label ("status_5xx",
  // "first_byte_timeout", ...), and the client's error message and the log.
  router::AttemptFailure failure;
  std::string_view metric_reason;
  std::string detail;
  std::optional<UpstreamRefusal> refusal;

  static AttemptResult failed(router::AttemptFailure::Kind kind, std::string_view metric_reason,
                              std::string detail) {
    AttemptResult result;
    result.failure.kind = kind;
    result.metric_reason = metric_reason;
    result.detail = std::move(detail);
    return result;
  }
  static AttemptResult answered_with(bool client_alive) {
    AttemptResult result;
    result.answered = true;
    result.client_alive = client_alive;
    return result;
  }
};

// The x-fulcrum-* headers of the client's response.
struct DecisionLabels {
  std::string_view request_id;
  std::string_view route;
  std::string_view reason;
  // The tier the attempt asks the upstream for ("flex"), also its x-fulcrum-service-tier
  // header; "" = none: the client's own service_tier, if any, goes as it sent it.
  std::string_view service_tier;
};

class Attempt {
 public:
  Attempt(Runtime& runtime, Worker& worker, const Snapshot& snapshot, api::ParsedRequest& request,
          const router::Candidate& candidate, std::size_t route, DecisionLabels labels,
          ClientReply& reply, AnswerListener& listener);

  // Tries the target once; a pooled connection found closed before anything was written is
  // replaced by a fresh one without counting as another attempt.
  awaitable<AttemptResult> run();

  TimePoint started() const { return started_; }

 private:
  using Parser = http::response_parser<http::buffer_body>;

  awaitable<AttemptResult> exchange(UpstreamConnection& connection, bool reused, bool& resend);
  // nullopt once the head arrived; else why it did not.
  awaitable<std::optional<AttemptResult>> read_head(UpstreamConnection& connection, Parser& parser,
                                                    TimePoint first_byte_deadline);
  awaitable<AttemptResult> pass_client_error(UpstreamConnection& connection, Parser& parser);
  // The provider cannot carry this request (a feature it lacks): the client's 400.
  awaitable<AttemptResult> refuse_untranslatable(const api::ApiError& error);
  awaitable<AttemptResult> refused(UpstreamConnection& connection, Parser& parser);
  void note_reported_load(const http::response_header<>& head);
  // Reads the rest of a short body (an error's), within the idle timeout and a few seconds;
  // the connection goes back to the pool when it ended cleanly.
  awaitable<std::string> read_short_body(UpstreamConnection& connection, Parser& parser);
  awaitable<AttemptResult> relay_whole(UpstreamConnection& connection, Parser& parser);
  // relay_stream.cpp
  class StreamRelay;
  awaitable<AttemptResult> relay_stream(UpstreamConnection& connection, Parser& parser);

  Runtime& runtime_;
  Worker& worker_;
  const Snapshot& snapshot_;
  api::ParsedRequest& request_;
  const router::Candidate& candidate_;
  const config::Target& target_;
  const config::Endpoint& endpoint_;
  const provider::Provider& provider_;  // the endpoint's wire
  std::size_t route_;
  DecisionLabels labels_;
  ClientReply& reply_;
  AnswerListener& listener_;
  config::Timeouts timeouts_;
  TimePoint started_;
  TimePoint deadline_;
  std::string upstream_head_;
  std::string upstream_body_;
  std::string warning_;  // what the provider's translation left out (x-fulcrum-warning)
  bool late_answer_possible_ = false;  // given up at first_byte with the socket still open
  bool reusable_ = false;              // an exchange ended cleanly on a keep-alive connection
};

}  // namespace fulcrum::net
