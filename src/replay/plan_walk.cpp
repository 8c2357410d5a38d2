// What the gateway's proxy does with one request, in simulated time and without I/O: route
// (net/proxy_request.cpp), then the walk along the plan (net/plan_walk.cpp: take_slot,
// wait_for_slot, attempts_on, learn; net/slot_queue.cpp: the slot given back, the next waiter
// woken), then the meter. Every upstream answers: failures, retries and circuit breakers are
// not replayed.
#include <algorithm>

#include "fulcrum/metering/cost.hpp"
#include "gateway.hpp"

namespace fulcrum::replay {
namespace {

// Uniform bits for the weighted strategy, the same on every run.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Where a slot's release teaches the hold time and wakes a waiter (net's CapacitySlot).
bool queues(const config::Endpoint& endpoint) {
  return endpoint.kind == config::EndpointKind::provisioned &&
         endpoint.capacity.max_concurrency > 0;
}

}  // namespace

void Gateway::route(std::size_t flight) {
  Flight& f = flights_[flight];
  const Arrival& a = *f.arrival;
  const core::Usage& usage = a.row->usage;
  router::RouteInput input;
  input.alias = a.alias;
  input.slo_class = a.slo_class;
  input.prompt.estimated_tokens =
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, usage.input));
  input.prompt.turns = 1;
  // The ledger keeps the output, not what the client asked for: replayed as its max_tokens.
  input.prompt.max_tokens = static_cast<std::uint64_t>(std::max<std::int64_t>(0, usage.output));
  input.prompt.stream = a.stream;
  input.now = now_;
  input.wall_now = a.wall;
  input.random = splitmix64(random_state_);
  f.plan = router::choose(input, policy_, live_);
  f.spilled_from = f.plan.spilled_from;
  f.outcome.slo_class = f.plan.slo_class;
  walk(flight, 0);
}

void Gateway::walk(std::size_t flight, std::size_t from) {
  Flight& f = flights_[flight];
  for (std::size_t index = from; index < f.plan.attempts.size(); ++index) {
    if (attempts_on(flight, index) != Step::next) return;
  }
  meter(f);  // no candidate took it: a 503
}

// When a wait on `candidate` runs out: max_wait after the request's arrival, as the proxy
// counts it.
TimePoint Gateway::wait_deadline(const Flight& f, const router::Candidate& candidate) {
  return f.arrival->at + std::chrono::duration_cast<core::Duration>(
                             std::chrono::duration<double>(candidate.max_wait));
}

// A slot on the candidate, or a wait for one when the router allowed it, or the next one.
Gateway::Step Gateway::attempts_on(std::size_t flight, std::size_t index) {
  Flight& f = flights_[flight];
  f.index = index;
  const router::Candidate& candidate = f.plan.attempts[index];
  // Requests already waiting there go first: one that may wait queues among them, and a free
  // slot goes to the first allowed to take it, as in the proxy.
  const bool queue_first = candidate.max_wait > 0 && queues_[candidate.endpoint].size() > 0 &&
                           now_ < wait_deadline(f, candidate);
  if (!queue_first && take_slot(flight, index)) {
    try_candidate(flight, index);
    return Step::serving;
  }
  if (candidate.max_wait > 0 && wait_for_slot(flight, index)) {
    if (queue_first) wake_next(candidate.endpoint);
    return Step::waiting;
  }
  if (!f.spilled_from) f.spilled_from = candidate.endpoint;
  return Step::next;
}

bool Gateway::take_slot(std::size_t flight, std::size_t index) {
  Flight& f = flights_[flight];
  const router::Candidate& candidate = f.plan.attempts[index];
  router::EndpointState& state = live_.endpoint(candidate.endpoint);
  if (!state.try_admit(router::admit_limit_now(candidate, state), candidate.reserved)) {
    return false;
  }
  f.slot_taken = now_;
  return true;
}

// Joins the endpoint's queue until a slot of the class's share frees (woken) or the wait the
// router allowed, counted from the request's start, runs out (wait_ran_out).
bool Gateway::wait_for_slot(std::size_t flight, std::size_t index) {
  Flight& f = flights_[flight];
  const router::Candidate& candidate = f.plan.attempts[index];
  const TimePoint deadline = wait_deadline(f, candidate);
  if (deadline <= now_) return false;
  router::EndpointState& state = live_.endpoint(candidate.endpoint);
  WaitQueue& queue = queues_[candidate.endpoint];
  queue.join(flight, f.plan.slo_class, deadline, policy_.slo_classes[f.plan.slo_class].priority,
             candidate, state);
  peak_waiting_[candidate.endpoint] = std::max(peak_waiting_[candidate.endpoint], queue.size());
  f.waiting = true;
  f.deadline = deadline;
  f.outcome.waited = true;
  events_.push(deadline, EventKind::deadline, flight);
  return true;
}

// A slot was given back and this waiter is the first that may take it: nothing else runs in
// between, so the slot is its.
void Gateway::woken(std::size_t flight) {
  Flight& f = flights_[flight];
  const std::size_t endpoint = f.plan.attempts[f.index].endpoint;
  f.waiting = false;
  queues_[endpoint].leave(flight, live_.endpoint(endpoint));
  if (take_slot(flight, f.index)) try_candidate(flight, f.index);
}

void Gateway::wait_ran_out(std::size_t flight) {
  Flight& f = flights_[flight];
  if (!f.waiting || f.deadline != now_) return;  // woken before
  f.waiting = false;
  const std::size_t endpoint = f.plan.attempts[f.index].endpoint;
  queues_[endpoint].leave(flight, live_.endpoint(endpoint));
  if (!f.spilled_from) f.spilled_from = endpoint;
  walk(flight, f.index + 1);
}

void Gateway::try_candidate(std::size_t flight, std::size_t index) {
  Flight& f = flights_[flight];
  const router::Candidate& candidate = f.plan.attempts[index];
  f.attempt_started = now_;
  f.outcome.endpoint = candidate.endpoint;
  const Upstream::Job job{flight, f.arrival->row->usage.output, f.arrival->stream};
  if (const auto service = upstreams_[candidate.endpoint].arrive(job, now_)) started(*service);
}

// The answer ended: the upstream's slot passes on, the live state learns, the gateway's slot
// is given back (waking a waiter), the request is metered.
void Gateway::answered(std::size_t flight) {
  Flight& f = flights_[flight];
  const std::size_t endpoint = f.plan.attempts[f.index].endpoint;
  if (const auto next = upstreams_[endpoint].finish(now_)) started(*next);
  learn(f);
  release(f);
  meter(f);
}

// ProxyRequest::learn for an answer that succeeded with its usage known.
void Gateway::learn(Flight& f) {
  const router::Candidate& candidate = f.plan.attempts[f.index];
  router::EndpointState& state = live_.endpoint(candidate.endpoint);
  state.mark_active(now_);
  const double output = static_cast<double>(f.arrival->row->usage.output);
  // A cold start says nothing about the warm endpoint's speed.
  if (!candidate.cold) {
    if (f.arrival->stream) {
      state.ttft.observe(core::seconds_between(f.attempt_started, f.service.first_byte), now_);
      if (output > 1) {
        state.per_output_token.observe(core::seconds_between(f.service.first_byte, now_) / output,
                                       now_);
      }
    } else if (output > 0) {
      const double generating =
          core::seconds_between(f.attempt_started, now_) - state.ttft.predict(now_);
      state.per_output_token.observe(std::max(0.0, generating) / output, now_);
    }
  }
  live_.observe_output_tokens(f.plan.route, static_cast<std::uint64_t>(std::max(0.0, output)));
}

// CapacitySlot's destructor: the slot given back first, so the waiter woken finds it free.
void Gateway::release(Flight& f) {
  const std::size_t endpoint = f.plan.attempts[f.index].endpoint;
  router::EndpointState& state = live_.endpoint(endpoint);
  state.release(f.plan.attempts[f.index].reserved);
  if (!queues(policy_.endpoints[endpoint])) return;
  state.slot_hold.observe(core::seconds_between(f.slot_taken, now_));
  wake_next(endpoint);
}

void Gateway::wake_next(std::size_t endpoint) {
  if (const auto next = queues_[endpoint].next_to_wake(live_.endpoint(endpoint))) woken(*next);
}

void Gateway::meter(Flight& f) {
  Outcome& o = f.outcome;
  if (!o.endpoint) return;
  const router::Candidate& candidate = f.plan.attempts[f.index];
  const config::Target& target = policy_.models[candidate.alias].targets[candidate.target];
  // As the gateway meters it: a flex attempt at the flex price (a flex 429's fallback to the
  // normal tier is not replayed: every upstream answers).
  const config::Price& price =
      candidate.flex && target.flex_price ? *target.flex_price : target.price;
  o.cost = metering::marginal_cost(price, f.arrival->row->usage);
  o.ttft_seconds = core::seconds_between(f.arrival->at, f.service.first_byte);
  o.e2e_seconds = core::seconds_between(f.arrival->at, now_);
  // Spillover is leaving paid-for capacity; a move to another unit is not.
  o.spilled = f.spilled_from && *f.spilled_from != *o.endpoint &&
              policy_.endpoints[*o.endpoint].kind == config::EndpointKind::serverless;
}

}  // namespace fulcrum::replay
