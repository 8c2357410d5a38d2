#include "wait_queue.hpp"

#include <algorithm>
#include <tuple>

namespace fulcrum::replay {

void WaitQueue::join(std::size_t flight, std::size_t slo_class, router::TimePoint deadline,
                     int priority, const router::Candidate& candidate,
                     router::EndpointState& state) {
  const Entry entry{flight, slo_class, deadline, priority, candidate, arrivals_++};
  const auto before = [](const Entry& a, const Entry& b) {
    return std::tuple(a.deadline, -a.priority, a.arrival) <
           std::tuple(b.deadline, -b.priority, b.arrival);
  };
  entries_.insert(std::upper_bound(entries_.begin(), entries_.end(), entry, before), entry);
  state.join_waiting(slo_class);
}

void WaitQueue::leave(std::size_t flight, router::EndpointState& state) {
  const auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const Entry& e) { return e.flight == flight; });
  if (it == entries_.end()) return;
  state.leave_waiting(it->slo_class);
  entries_.erase(it);
}

std::optional<std::size_t> WaitQueue::next_to_wake(const router::EndpointState& state) const {
  for (const Entry& entry : entries_) {
    const unsigned limit = router::admit_limit_now(entry.candidate, state);
    if (limit == 0 || state.in_flight() < limit) return entry.flight;
  }
  return std::nullopt;
}

}  // namespace fulcrum::replay
