#pragma once
// One client request through the data plane, as a pipeline of named stages:
//
//   admit     who asks, for which alias, in which SLO class          (admission.cpp)
//   route     the router's plan, after a soft budget's downgrade      (proxy_request.cpp)
//   reserve   rate-limit tokens and budget money, held by guards      (admission.cpp)
//   walk      attempts along the plan, as RetryPolicy decides         (plan_walk.cpp)
//   meter     once: metrics, budgets, rate limits, ledger, access line (request_meter.cpp)
//
// Each attempt (attempt.hpp) owns one target, its connection and its relay; this object owns
// admission, the plan, the outcome and metering. What it holds (reservations, a capacity
// slot) is released by guards however the request ends; an exception anywhere in the stages
// still gets an answer and a metered, logged outcome (run()).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attempt.hpp"
#include "fulcrum/api/error.hpp"
#include "fulcrum/api/request.hpp"
#include "fulcrum/auth/authenticator.hpp"
#include "fulcrum/auth/rate_limiter.hpp"
#include "fulcrum/metering/budgets.hpp"
#include "fulcrum/net/client_reply.hpp"
#include "fulcrum/net/http_server.hpp"
#include "fulcrum/router/plan.hpp"
#include "request_id.hpp"
#include "runtime.hpp"
#include "slot_queue.hpp"

namespace fulcrum::net {

struct MeterEvent;

// The endpoint capability (endpoints.*.apis) an operation needs.
config::Api api_of(api::Operation op);
// The 401 for a request whose key is missing or wrong.
api::ApiError authentication_error(auth::AuthFailure failure);

// Fulcrum answering in the upstream's place: the error and any headers that go with it.
struct Refusal {
  Refusal() = default;
  Refusal(api::ApiError e, std::vector<std::pair<std::string, std::string>> h = {})
      : error(std::move(e)), headers(std::move(h)) {}

  api::ApiError error;  // its status is the response's
  std::vector<std::pair<std::string, std::string>> headers;
  // An upstream's own error body (every secret scrubbed), sent instead of error's JSON.
  std::optional<std::string> body;
  std::string content_type;
};

class ProxyRequest final : public AnswerListener {
 public:
  ProxyRequest(Runtime& runtime, Worker& worker, ClientReply& reply, Request& request,
               api::Operation op);
  ProxyRequest(const ProxyRequest&) = delete;
  ProxyRequest& operator=(const ProxyRequest&) = delete;

  // Every stage; afterwards the client has its response and the request is metered, or the
  // reason it has neither is logged.
  awaitable<void> run();

 private:
  awaitable<void> stages();
  // admission.cpp
  std::optional<Refusal> admit();
  std::optional<Refusal> pin_to_stored_response();
  awaitable<std::optional<Refusal>> reserve();
  std::uint64_t estimated_tokens() const;
  std::optional<Refusal> shared_budget_verdict(const SharedState::Admission& answer,
                                               std::vector<SharedBudget>& covering,
                                               core::Money estimate, core::WallTime now);
  // proxy_request.cpp
  std::optional<Refusal> route();
  awaitable<void> refuse(const Refusal& refusal);
  Charge on_answer(const Answer& answer) override;
  void on_abandoned(std::unique_ptr<UpstreamConnection> connection, TimePoint attempt_started,
                    TimePoint deadline) override;
  // plan_walk.cpp
  // Where the walk along the plan stands between attempts.
  struct Walk {
    // "endpoint: what went wrong; ..." for the client's error when nothing serves it.
    class Tried {
     public:
      void note(std::string_view endpoint, std::string_view what) {
        if (!text_.empty()) text_ += "; ";
        text_.append(endpoint).append(": ").append(what);
      }
      std::string parenthesised() const { return text_.empty() ? "." : " (" + text_ + ")."; }
      const std::string& text() const { return text_; }

     private:
      std::string text_;
    };
    Tried tried;
    const router::Candidate* previous = nullptr;  // the last attempt's target
    AttemptResult last;                           // and how it ended
    // What the upstreams said, for the client's error when none serves: the last 429 (with the
    // soonest retry any 429 asked for) and the last 5xx.
    std::optional<UpstreamRefusal> rate_limited;
    std::optional<core::Duration> retry_after;
    std::optional<UpstreamRefusal> server_error;
    bool spilling = false;  // the walk moved on because a provisioned endpoint was full
    // The attempt about to start is a flex attempt's fallback to the normal tier.
    bool flex_fallback = false;
    unsigned moves = 0;  // moves to another target after a failure (spills aside)
    bool stopped = false;
  };
  awaitable<void> walk();
  // What a request holds on a candidate's endpoint while it is tried.
  struct Held {
    std::optional<CapacitySlot> slot;
    std::optional<SharedSlot> lease;  // the fleet's, with state.redis
  };
  awaitable<Held> take_slot(std::size_t index);
  awaitable<void> wait_for_slot(std::size_t index, Held& held);
  awaitable<bool> attempts_on(std::size_t index, Walk& walk);
  void explain_attempt(const router::Candidate& candidate, const Walk& walk);
  router::RetryDecision decide(std::size_t index, unsigned retry, Walk& walk);
  Refusal unserved(const Walk& walk);
  // `flex`: this attempt asks for the flex tier (service_tier: flex).
  awaitable<AttemptResult> try_candidate(const router::Candidate& candidate, bool flex);
  void learn(const router::Candidate& candidate, TimePoint attempt_started,
             const AttemptResult& result, bool flex);
  // request_meter.cpp
  void meter();
  void record_routing(const MeterEvent& event);

  Runtime& runtime_;
  Worker& worker_;
  ClientReply& reply_;
  Request& http_request_;                           // its body moves into request_ at admission
  const std::shared_ptr<const Snapshot> snapshot_;  // kept by every view below
  const config::Config& config_;
  const RequestId id_;
  const TimePoint started_;

  // admit
  api::ParsedRequest request_;
  const config::ModelAlias* alias_ = nullptr;  // as the client named it
  auth::Principal principal_;
  std::optional<std::size_t> slo_class_;              // asked for by header or the key's default
  std::optional<std::size_t> pinned_endpoint_;        // previous_response_id's endpoint (index)
  const config::ModelAlias* pinned_alias_ = nullptr;  // and the alias routed to reach it
  // route
  router::Plan plan_;
  bool routed_ = false;
  core::PromptFeatures prompt_;
  std::string reason_;  // x-fulcrum-reason: the plan's, or what led to the attempt under way
  std::string classifier_prefix_;
  std::optional<std::size_t> spilled_from_;  // endpoint index, for fulcrum_spillover_total
  std::string_view spill_reason_;
  // reserve: released by their destructors however the request ends
  auth::RateReservation rate_;
  metering::BudgetReservation budget_;
  SharedHolds shared_holds_;  // in Redis instead, when state.redis answers
  // The plan's first target's capacity slot, asked at admission (state.redis), and its lease
  // when granted; the walk takes them over.
  std::optional<SharedState::SlotAnswer> first_slot_;
  std::optional<SharedSlot> first_lease_;
  // walk and the answer
  const router::Candidate* serving_ = nullptr;  // the attempt under way, then the last one
  bool serving_flex_ = false;                   // and whether it asked for the flex tier
  TimePoint attempt_started_;
  unsigned attempts_ = 0;
  core::Clock::duration queued_{};  // in wait queues for a provisioned slot, in all
  std::optional<Answer> answer_;
  std::optional<api::ApiError> failure_;  // when Fulcrum answered in the upstream's place
  metering::Outcome outcome_ = metering::Outcome::success;
  unsigned status_ = 0;
  bool usage_estimated_ = false;
  Charge charge_;
  bool metered_ = false;
};

}  // namespace fulcrum::net
