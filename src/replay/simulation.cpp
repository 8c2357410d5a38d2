// The replay's event loop, and what the gateway's background work tells the router between
// requests: prewarm pings keep endpoints warm inside their windows, and an endpoint whose
// engine load is read (endpoints.*.load) reports its running and queued requests.
#include "gateway.hpp"

namespace fulcrum::replay {

Gateway::Gateway(const config::Config& policy, const std::vector<EndpointModel>& models)
    : policy_(policy), live_(policy), peak_waiting_(policy.endpoints.size(), 0) {
  upstreams_.reserve(models.size());
  for (const EndpointModel& model : models) upstreams_.emplace_back(model);
  queues_.resize(policy.endpoints.size());
  for (const config::Endpoint& endpoint : policy.endpoints) prewarm_.emplace_back(endpoint);
}

void Gateway::observe_endpoints(TimePoint now, core::WallTime wall) {
  for (std::size_t i = 0; i < policy_.endpoints.size(); ++i) {
    router::EndpointState& state = live_.endpoint(i);
    if (prewarm_[i].warm(wall)) {
      state.mark_active(now);
      upstreams_[i].keep_warm(now);
    }
    if (policy_.endpoints[i].load) {
      state.report_engine_load({.running = upstreams_[i].generating(),
                                .waiting = upstreams_[i].queued(),
                                .kv_cache_usage = std::nullopt},
                               now);
    }
  }
}

void Gateway::started(const Upstream::Service& service) {
  flights_[service.flight].service = service;
  events_.push(service.finished, EventKind::finish, service.flight);
}

std::vector<Outcome> Gateway::run(const std::vector<Arrival>& arrivals) {
  // Sized once: the walk holds references to flights while others start and end.
  flights_.assign(arrivals.size(), Flight{});
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    flights_[i].arrival = &arrivals[i];
    events_.push(arrivals[i].at, EventKind::arrival, i);
  }
  while (!events_.empty()) {
    const Event event = events_.pop();
    now_ = event.at;
    switch (event.kind) {
      case EventKind::arrival:
        observe_endpoints(now_, flights_[event.flight].arrival->wall);
        route(event.flight);
        break;
      case EventKind::finish:
        answered(event.flight);
        break;
      case EventKind::deadline:
        wait_ran_out(event.flight);
        break;
    }
  }
  std::vector<Outcome> outcomes;
  outcomes.reserve(flights_.size());
  for (const Flight& f : flights_) outcomes.push_back(f.outcome);
  return outcomes;
}

}  // namespace fulcrum::replay
