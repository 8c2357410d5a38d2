// The walk along a request's plan: each candidate in order, a capacity slot and a closed
// circuit first, then attempts, with RetryPolicy deciding after each failure whether to
// retry the same target, move on, or stop. What each attempt taught feeds the live state.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "fulcrum/router/retry_policy.hpp"
#include "proxy_request.hpp"

namespace fulcrum::net {
namespace {

using metering::Outcome;
using router::RetryDecision;

using core::seconds_between;

awaitable<void> pause(asio::io_context& io, core::Duration duration) {
  steady_timer timer(io, duration);
  error_code ec;
  co_await timer.async_wait(as_result(ec));
}

// Whether any candidate after `index` could still be tried: its circuit is not open.
bool another_target(const router::Plan& plan, std::size_t index, const router::LiveState& live,
                    TimePoint now) {
  for (std::size_t j = index + 1; j < plan.attempts.size(); ++j) {
    if (live.endpoint(plan.attempts[j].endpoint).breaker.state(now) !=
        router::CircuitBreaker::State::open) {
      return true;
    }
  }
  return false;
}

// When a wait on `candidate` runs out: max_wait after the request's arrival.
TimePoint wait_deadline(TimePoint arrival, const router::Candidate& candidate) {
  return arrival + std::chrono::duration_cast<core::Duration>(
                       std::chrono::duration<double>(candidate.max_wait));
}

// A flex attempt the flex tier did not serve: it refused (429: no flex capacity now) or was
// too slow to start. The normal tier of the same target may still serve at once.
bool flex_refused(const AttemptResult& result) {
  return result.failure.rate_limited() || result.metric_reason == "first_byte_timeout";
}

}  // namespace

awaitable<void> ProxyRequest::walk() {
  snapshot_->live->retry_budget().count_request(started_);
  Walk walk;
  for (std::size_t i = 0; i < plan_.attempts.size() && !walk.stopped; ++i) {
    if (co_await attempts_on(i, walk)) co_return;
  }
  // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
  const Refusal refusal = unserved(walk);
  co_await refuse(refusal);
}

// The client's error when no target served: 503 when none could be tried; the upstream's own
// 429 (body, headers and the soonest Retry-After any 429 asked for) when one said so, so SDKs
// back off as the provider asked and a quota error stays one; else 502 naming each failure,
// with the last upstream 5xx's own message kept.
Refusal ProxyRequest::unserved(const Walk& walk) {
  const std::string& model = alias_->name;
  Refusal refusal;
  if (walk.previous == nullptr) {
    outcome_ = Outcome::upstream_error;
    refusal.error = api::ApiError::service_unavailable("No endpoint for model '" + model +
                                                       "' can take the request now" +
                                                       walk.tried.parenthesised());
    return refusal;
  }
  outcome_ = walk.last.failure.kind == router::AttemptFailure::Kind::timeout
                 ? Outcome::timeout
                 : Outcome::upstream_error;
  const std::string summary =
      "All targets for model '" + model + "' failed: " + walk.tried.text() + ".";
  if (walk.rate_limited) {
    refusal.error = api::ApiError::rate_limited("requests", summary);
    refusal.body = walk.rate_limited->body.empty() ? refusal.error.to_json(request_.operation)
                                                   : walk.rate_limited->body;
    refusal.content_type = walk.rate_limited->body.empty() ? "" : walk.rate_limited->content_type;
    for (const auto& [name, value] : walk.rate_limited->headers) {
      if (!beast::iequals(name, "retry-after") && !beast::iequals(name, "retry-after-ms")) {
        refusal.headers.emplace_back(name, value);
      }
    }
    if (walk.retry_after) {
      const auto ms = walk.retry_after->count();
      refusal.headers.emplace_back("retry-after-ms", std::to_string(ms));
      refusal.headers.emplace_back("retry-after",
                                   std::to_string(std::max<long>(1, (ms + 999) / 1000)));
    }
    return refusal;
  }
  std::string message = summary;
  if (walk.server_error) {
    const auto body = nlohmann::json::parse(walk.server_error->body, nullptr, false);
    const auto upstream = body.is_object() && body.contains("error") && body["error"].is_object()
                              ? body["error"].value("message", "")
                              : std::string();
    if (!upstream.empty()) message = upstream + " (Fulcrum: " + summary + ")";
  }
  refusal.error = api::ApiError::bad_gateway(message);
  return refusal;
}

// A capacity slot on candidate `index` and, with shared state, the fleet's lease; no slot
// when the endpoint is full for the request's class.
awaitable<ProxyRequest::Held> ProxyRequest::take_slot(std::size_t index) {
  const router::Candidate& candidate = plan_.attempts[index];
  const config::Endpoint& endpoint = config_.endpoints[candidate.endpoint];
  router::EndpointState& state = snapshot_->live->endpoint(candidate.endpoint);
  Held held;
  // The router saw a free slot; another thread, or another replica, may have taken it since.
  unsigned limit = router::admit_limit_now(candidate, state);
  const unsigned class_limit = router::class_limit_now(candidate, state);
  bool full = false;
  bool noted_locally = false;
  if (worker_.shared && class_limit > 0) {
    // The first target's slot was asked at admission, in the same round trip.
    SharedState::SlotAnswer answer;
    if (index == 0 && first_slot_) {
      answer = *std::exchange(first_slot_, std::nullopt);
    } else {
      answer = co_await worker_.shared->acquire_slot(endpoint.name, class_limit);
    }
    switch (answer.slot) {
      case SharedState::Slot::granted:
        state.report_fleet_in_flight(answer.fleet_in_flight, core::Clock::now());
        if (index == 0 && first_lease_) {
          held.lease.emplace(std::move(*first_lease_));
          first_lease_.reset();
        } else {
          held.lease.emplace(*worker_.shared, endpoint.name, SharedSlot::Kind::granted);
        }
        limit = 0;  // the fleet's count decided; this one only counts
        break;
      case SharedState::Slot::full:
        state.report_fleet_in_flight(answer.fleet_in_flight, core::Clock::now());
        full = true;
        break;
      case SharedState::Slot::unavailable:
        worker_.shared->count_unavailable(SharedState::Feature::capacity);
        if (config_.state.capacity == config::WhenStateUnavailable::closed) {
          full = true;
        } else {
          // This replica's share of the class's capacity, until Redis answers again.
          limit = std::min(limit, std::max(1u, class_limit / local_share(config_.state)));
          noted_locally = true;
        }
        break;
    }
  }
  auto slot =
      full ? std::nullopt : router::EndpointSlot::try_take(state, limit, candidate.reserved);
  if (!slot) {
    held.lease.reset();
    co_return held;
  }
  if (noted_locally) {
    worker_.shared->note_local_slot(endpoint.name);
    held.lease.emplace(*worker_.shared, endpoint.name, SharedSlot::Kind::noted);
  }
  const bool queues =
      endpoint.kind == config::EndpointKind::provisioned && endpoint.capacity.max_concurrency > 0;
  held.slot.emplace(std::move(*slot), state,
                    queues ? snapshot_->slot_queues[candidate.endpoint].get() : nullptr);
  co_return held;
}

namespace {

// A request's place in an endpoint's wait queue and in its gauge, given up however the wait
// ends: its end, an exception, or the coroutine frame destroyed with its worker at shutdown
// (then no timer of that worker stays in a queue other workers wake).
class QueuePlace {
 public:
  QueuePlace(SlotQueue& queue, std::shared_ptr<SlotQueue::Waiter> waiter,
             router::EndpointState& state, std::size_t slo_class, int priority,
             const router::Candidate& candidate, metering::Metrics& metrics,
             std::string_view endpoint, std::string_view slo_name, TimePoint arrival)
      : queue_(queue),
        waiter_(std::move(waiter)),
        state_(state),
        metrics_(metrics),
        endpoint_(endpoint),
        slo_name_(slo_name),
        arrival_(arrival) {
    queue_.join(waiter_, state_, slo_class, priority, candidate);
    metrics_.queue_joined(endpoint_, slo_name_);
  }
  QueuePlace(const QueuePlace&) = delete;
  QueuePlace& operator=(const QueuePlace&) = delete;
  // How the wait ended, for the histogram (from the request's arrival) and the outcomes; a
  // wake this waiter did not use goes on to the next.
  void finish(bool served) {
    leave();
    metrics_.queue_left(endpoint_, slo_name_, waited(), served);
    if (!served) queue_.wake_next(state_);
  }
  // Cut short (an exception, or shutdown): no slot taken. A wake it may have had is left to
  // the others' recheck: at shutdown their workers may be gone.
  ~QueuePlace() {
    if (!left_) metrics_.queue_left(endpoint_, slo_name_, waited(), false);
    leave();
  }

 private:
  void leave() {
    if (std::exchange(left_, true)) return;
    queue_.leave(*waiter_, state_);
  }
  double waited() const { return core::seconds_between(arrival_, core::Clock::now()); }
  SlotQueue& queue_;
  std::shared_ptr<SlotQueue::Waiter> waiter_;
  router::EndpointState& state_;
  metering::Metrics& metrics_;
  std::string_view endpoint_;
  std::string_view slo_name_;
  TimePoint arrival_;
  bool left_ = false;
};

}  // namespace

// A full endpoint the router let this request wait for: in its queue, earliest deadline
// first, until a slot of the class's share is free (held.slot) or the wait the router allowed
// runs out (no slot: the walk spills to the next candidate). Nothing has been sent to the
// client, so a stream can still go elsewhere.
awaitable<void> ProxyRequest::wait_for_slot(std::size_t index, Held& held) {
  const router::Candidate& candidate = plan_.attempts[index];
  const TimePoint deadline = wait_deadline(started_, candidate);
  // Earlier attempts may have used the time the wait had (a later candidate).
  if (core::Clock::now() >= deadline) co_return;
  router::EndpointState& state = snapshot_->live->endpoint(candidate.endpoint);
  const config::SloClass& slo = config_.slo_classes[plan_.slo_class];
  // Releases on this gateway wake a waiter at once; a recheck now and then sees slots that
  // other replicas, or the engine's own count, gave back.
  constexpr core::Duration kRecheck = std::chrono::milliseconds(200);
  auto waiter = std::make_shared<SlotQueue::Waiter>(worker_.io.get_executor(), deadline);
  QueuePlace place(*snapshot_->slot_queues[candidate.endpoint], waiter, state, plan_.slo_class,
                   slo.priority, candidate, runtime_.metrics(),
                   config_.endpoints[candidate.endpoint].name, slo.name, started_);
  const TimePoint joined = core::Clock::now();
  // A slot free now (given back since the first try, or one the walk left to the queue) goes
  // to the first waiter allowed to take it: this one, or one ahead that then takes it.
  snapshot_->slot_queues[candidate.endpoint]->wake_next(state);
  while (core::Clock::now() < deadline) {
    co_await waiter->sleep(kRecheck);
    Held taken = co_await take_slot(index);
    if (taken.slot) {
      held.slot.emplace(std::move(*taken.slot));
      if (taken.lease) held.lease.emplace(std::move(*taken.lease));
      break;
    }
  }
  queued_ += core::Clock::now() - joined;
  place.finish(held.slot.has_value());
}

// The attempts on candidate `index`: a capacity slot (waited for when the router allowed it)
// and a closed circuit first, then tries until one answers (true) or RetryPolicy moves on or
// stops.
awaitable<bool> ProxyRequest::attempts_on(std::size_t index, Walk& walk) {
  const router::Candidate& candidate = plan_.attempts[index];
  const config::Endpoint& endpoint = config_.endpoints[candidate.endpoint];
  router::EndpointState& state = snapshot_->live->endpoint(candidate.endpoint);
  Held held;
  // Requests already waiting there go first, earliest deadline first: one that may still wait
  // queues among them rather than take a slot freed for one of them. A slot asked of the
  // fleet at admission is given back: the queue asks again when its turn comes.
  const bool queues_first = candidate.max_wait > 0 && state.waiting() > 0 &&
                            core::Clock::now() < wait_deadline(started_, candidate);
  if (queues_first && index == 0) {
    first_slot_.reset();
    first_lease_.reset();
  }
  if (!queues_first) {
    Held taken = co_await take_slot(index);
    if (taken.slot) held.slot.emplace(std::move(*taken.slot));
    if (taken.lease) held.lease.emplace(std::move(*taken.lease));
  }
  if (!held.slot && candidate.max_wait > 0) co_await wait_for_slot(index, held);
  if (!held.slot) {
    walk.tried.note(endpoint.name,
                    candidate.max_wait > 0 ? "no slot within its wait" : "at capacity");
    if (!spilled_from_) {
      spilled_from_ = candidate.endpoint;
      spill_reason_ = "capacity";
    }
    reason_ = classifier_prefix_ + "spill:capacity";
    co_return false;
  }
  bool flex = candidate.flex;
  for (unsigned retry = 0;;) {
    if (!state.breaker.try_acquire(core::Clock::now())) {
      walk.tried.note(endpoint.name, "circuit open");
      co_return false;
    }
    explain_attempt(candidate, walk);
    if (candidate.cold && retry == 0 && !walk.flex_fallback) {
      runtime_.metrics().cold_start(*snapshot_->meters, candidate.endpoint);
    }
    walk.last = co_await try_candidate(candidate, flex);
    walk.flex_fallback = false;
    if (walk.last.answered) {
      if (!walk.last.client_alive) reply_.close_after();
      co_return true;
    }
    walk.previous = &candidate;
    if (flex && flex_refused(walk.last)) {
      // Once more on the same target at the normal tier, at once and at the normal price: not
      // a retry (no backoff, no retry budget spent, retries.max untouched), and the flex tier's
      // 429 is not the client's rate limit.
      spdlog::info("flex_fallback request_id={} endpoint={} reason={}", id_.view(), endpoint.name,
                   walk.last.metric_reason);
      walk.tried.note(endpoint.name, "flex tier: " + walk.last.detail);
      walk.flex_fallback = true;
      flex = false;
      continue;
    }
    walk.tried.note(endpoint.name, walk.last.detail);
    if (walk.last.refusal && walk.last.refusal->status == 429) {
      walk.rate_limited = std::move(walk.last.refusal);
      const auto asked = walk.last.failure.retry_after;
      if (asked && (!walk.retry_after || *asked < *walk.retry_after)) walk.retry_after = asked;
    } else if (walk.last.refusal) {
      walk.server_error = std::move(walk.last.refusal);
    }
    spdlog::warn("upstream_failed request_id={} endpoint={} reason={} detail=\"{}\"", id_.view(),
                 endpoint.name, walk.last.metric_reason, walk.last.detail);
    const RetryDecision decision = decide(index, retry, walk);
    if (decision.action != RetryDecision::Action::retry_same) co_return false;
    co_await pause(worker_.io, decision.after);
    ++retry;
  }
}

// Why the attempt about to start happens, set when it starts: a breaker that opened between
// retries turns the planned "retry:503" into the "fallback:503" that actually happened.
void ProxyRequest::explain_attempt(const router::Candidate& candidate, const Walk& walk) {
  if (walk.previous == nullptr) return;  // the plan's own reason, or a capacity spill
  const std::string label(walk.last.failure.label());
  if (walk.flex_fallback) {
    reason_ = classifier_prefix_ + "flex-fallback:" + label;
  } else if (walk.previous == &candidate) {
    reason_ = classifier_prefix_ + "retry:" + label;
  } else if (walk.spilling) {
    reason_ = classifier_prefix_ + "spill:429";
  } else {
    reason_ = classifier_prefix_ + "fallback:" + label;
    runtime_.metrics().fallback(config_.endpoints[walk.previous->endpoint].name,
                                config_.endpoints[candidate.endpoint].name,
                                walk.last.metric_reason);
  }
}

// RetryPolicy's decision after candidate `index` failed, and what it means for the walk.
RetryDecision ProxyRequest::decide(std::size_t index, unsigned retry, Walk& walk) {
  const router::Candidate& candidate = plan_.attempts[index];
  const config::Endpoint& endpoint = config_.endpoints[candidate.endpoint];
  router::LiveState& live = *snapshot_->live;
  const TimePoint now = core::Clock::now();
  const router::RetryState where{
      .retries_on_target = retry,
      .moves = walk.moves,
      .spill_on_429 = endpoint.spill_on_429,
      .target_open = live.endpoint(candidate.endpoint).breaker.state(now) ==
                     router::CircuitBreaker::State::open,
      .another_target = another_target(plan_, index, live, now)};
  const router::RetryPolicy policy(config_.routes[plan_.route].retries);
  const RetryDecision decision =
      policy.next(walk.last.failure, where, live.retry_budget(), now, worker_.random());
  if (decision.action == RetryDecision::Action::retry_same) return decision;
  walk.spilling = decision.spill;
  if (decision.spill) {
    // Provisioned and full: a spill, not a failure of the endpoint.
    spilled_from_ = spilled_from_.value_or(candidate.endpoint);
    if (spill_reason_.empty() || spilled_from_ == candidate.endpoint) spill_reason_ = "429";
  } else if (decision.action == RetryDecision::Action::next_target) {
    ++walk.moves;
  }
  if (decision.budget_refused) {
    runtime_.metrics().retry_budget_exhausted();
    walk.tried.note(config_.endpoints[plan_.attempts[index + 1].endpoint].name,
                    "not tried: retry budget exhausted");
  }
  walk.stopped = decision.action == RetryDecision::Action::stop;
  return decision;
}

awaitable<AttemptResult> ProxyRequest::try_candidate(const router::Candidate& candidate,
                                                     bool flex) {
  serving_ = &candidate;
  serving_flex_ = flex;
  ++attempts_;
  const DecisionLabels labels{id_.view(), config_.routes[plan_.route].name, reason_,
                              flex ? "flex" : ""};
  Attempt attempt(runtime_, worker_, *snapshot_, request_, candidate, plan_.route, labels, reply_,
                  *this);
  attempt_started_ = attempt.started();
  AttemptResult result = co_await attempt.run();
  learn(candidate, attempt.started(), result, flex);
  co_return result;
}

// Feeds an attempt's outcome back into the live state: circuit breaker, warmth, latency.
void ProxyRequest::learn(const router::Candidate& candidate, TimePoint attempt_started,
                         const AttemptResult& result, bool flex) {
  const metering::MeterTable& table = *snapshot_->meters;
  const config::Endpoint& endpoint = config_.endpoints[candidate.endpoint];
  router::EndpointState& state = snapshot_->live->endpoint(candidate.endpoint);
  const TimePoint now = core::Clock::now();

  // A 429 from a provisioned endpoint that spills says "full"; from anyone else, repeated, it
  // is an outlier to eject for a cooldown like a failing one. A stream cut mid-way is broken.
  // The flex tier's 429 is the endpoint answering "no room at flex"; a flex attempt's slow
  // start says nothing of the normal tier.
  const bool broke = result.answered
                         ? outcome_ == Outcome::upstream_error || outcome_ == Outcome::timeout
                         : !(result.failure.rate_limited() && (endpoint.spill_on_429 || flex));
  // Neither a flex 429 nor a flex slow start says whether the normal tier is healthy.
  if (flex && flex_refused(result)) {
    state.breaker.on_inconclusive();
  } else if (broke) {
    if (state.breaker.on_failure(now)) {
      runtime_.metrics().circuit(table, candidate.endpoint, true);
      spdlog::warn("circuit_open endpoint={} cooldown_ms={} last_failure={}", endpoint.name,
                   endpoint.circuit_breaker.cooldown.count(),
                   result.answered ? "stream cut" : result.metric_reason);
    }
  } else {
    const bool was_open = state.breaker.state(now) != router::CircuitBreaker::State::closed;
    state.breaker.on_success();
    if (was_open) {
      runtime_.metrics().circuit(table, candidate.endpoint, false);
      spdlog::info("circuit_closed endpoint={}", endpoint.name);
    }
  }
  const bool heard_from =
      result.answered || result.failure.kind == router::AttemptFailure::Kind::status;
  if (heard_from) state.mark_active(now);
  // The flex tier is slower by design: its attempts teach nothing of the normal tier's latency.
  if (!flex && !result.answered && result.metric_reason == "first_byte_timeout") {
    state.ttft.observe(seconds_between(attempt_started, now), now);
  }
  // A cold start says nothing about the warm endpoint's speed (the router adds its own
  // cold-start term), so such an attempt teaches no latency.
  const bool taught = result.answered && outcome_ == Outcome::success && answer_ &&
                      answer_->usage && !usage_estimated_;
  if (taught && !candidate.cold && !flex) {
    const double output = static_cast<double>(answer_->usage->output);
    if (request_.stream && answer_->first_byte) {
      state.ttft.observe(seconds_between(attempt_started, *answer_->first_byte), now);
      if (output > 1) {
        state.per_output_token.observe(seconds_between(*answer_->first_byte, now) / output, now);
      }
    } else if (output > 0) {
      const double generating = seconds_between(attempt_started, now) - state.ttft.predict(now);
      state.per_output_token.observe(std::max(0.0, generating) / output, now);
    }
  }
  if (taught && request_.operation != api::Operation::embeddings) {
    snapshot_->live->observe_output_tokens(plan_.route, answer_->usage->output);
  }
  runtime_.metrics().latency_estimate(table, candidate.endpoint, state.ttft.predict(now),
                                      state.per_output_token.predict(now));
}

}  // namespace fulcrum::net
