#pragma once
// The gateway the replay runs: the policy's real router (router::choose) on a simulated
// LiveState, a wait queue and an Upstream per endpoint, and one Flight per replayed request,
// all on the event queue's simulated time. plan_walk.cpp does what the proxy does with each
// request (net/proxy_request.cpp, net/plan_walk.cpp), by the same names, minus I/O.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "event_queue.hpp"
#include "fulcrum/config/config.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/replay/replay.hpp"
#include "fulcrum/router/plan.hpp"
#include "prewarm.hpp"
#include "upstream.hpp"
#include "wait_queue.hpp"

namespace fulcrum::replay {

// A recorded request as the replay sends it.
struct Arrival {
  const RecordedRequest* row = nullptr;
  const config::ModelAlias* alias = nullptr;
  std::optional<std::size_t> slo_class;  // recorded, when the policy has it
  bool stream = false;
  TimePoint at;
  core::WallTime wall;
};

// What happened to it.
struct Outcome {
  std::size_t slo_class = 0;
  std::optional<std::size_t> endpoint;  // none: no candidate could take it
  core::Money cost;                     // marginal: tokens × the target's prices
  double ttft_seconds = 0;              // as the client sees it, from the request's start
  double e2e_seconds = 0;
  bool waited = false;   // joined an endpoint's wait queue
  bool spilled = false;  // left paid-for capacity for a serverless endpoint
};

class Gateway {
 public:
  Gateway(const config::Config& policy, const std::vector<EndpointModel>& models);

  // Every arrival, oldest first, through to its end.
  std::vector<Outcome> run(const std::vector<Arrival>& arrivals);

  const Upstream& upstream(std::size_t endpoint) const { return upstreams_[endpoint]; }
  unsigned peak_waiting(std::size_t endpoint) const { return peak_waiting_[endpoint]; }

 private:
  // One request in the gateway: ProxyRequest's state that the walk reads and writes.
  struct Flight {
    const Arrival* arrival = nullptr;
    router::Plan plan;
    std::size_t index = 0;  // the candidate being tried
    TimePoint attempt_started;
    TimePoint slot_taken;
    bool waiting = false;
    TimePoint deadline;
    std::optional<std::size_t> spilled_from;
    Upstream::Service service;
    Outcome outcome;
  };

  // simulation.cpp: what the gateway learns between requests, and the event loop.
  void observe_endpoints(TimePoint now, core::WallTime wall);
  void started(const Upstream::Service& service);

  // plan_walk.cpp.
  void route(std::size_t flight);
  void walk(std::size_t flight, std::size_t from);
  enum class Step { serving, waiting, next };
  Step attempts_on(std::size_t flight, std::size_t index);
  bool take_slot(std::size_t flight, std::size_t index);
  bool wait_for_slot(std::size_t flight, std::size_t index);
  void woken(std::size_t flight);
  void wait_ran_out(std::size_t flight);
  void try_candidate(std::size_t flight, std::size_t index);
  void answered(std::size_t flight);
  void learn(Flight& f);
  void release(Flight& f);
  static TimePoint wait_deadline(const Flight& f, const router::Candidate& candidate);
  // Wakes the first waiter on `endpoint` allowed to take a slot now, if any.
  void wake_next(std::size_t endpoint);
  void meter(Flight& f);

  const config::Config& policy_;
  router::LiveState live_;
  std::vector<Upstream> upstreams_;
  std::vector<WaitQueue> queues_;
  std::vector<PrewarmWindows> prewarm_;
  std::vector<unsigned> peak_waiting_;
  std::vector<Flight> flights_;
  EventQueue events_;
  TimePoint now_;
  std::uint64_t random_state_ = 0x5eed;
};

}  // namespace fulcrum::replay
