#pragma once
// The gateway's wait for a slot on a full provisioned endpoint (net's SlotQueue), in
// simulated time: earliest deadline first, then higher priority, then arrival. When a slot
// is given back, the first waiter whose class may take a slot now is woken and takes it at
// once (no other thread can take it in between); a waiter of a class limited to the general
// share sleeps on while only reserved slots are free.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "fulcrum/router/live_state.hpp"
#include "fulcrum/router/plan.hpp"

namespace fulcrum::replay {

class WaitQueue {
 public:
  void join(std::size_t flight, std::size_t slo_class, router::TimePoint deadline, int priority,
            const router::Candidate& candidate, router::EndpointState& state);
  void leave(std::size_t flight, router::EndpointState& state);
  // The waiter to wake after a slot was given back, if any may take one now.
  std::optional<std::size_t> next_to_wake(const router::EndpointState& state) const;
  unsigned size() const { return static_cast<unsigned>(entries_.size()); }

 private:
  struct Entry {
    std::size_t flight = 0;
    std::size_t slo_class = 0;
    router::TimePoint deadline;
    int priority = 0;
    router::Candidate candidate;  // its limit is worked out at each wake
    std::uint64_t arrival = 0;
  };
  std::vector<Entry> entries_;  // in waking order
  std::uint64_t arrivals_ = 0;
};

}  // namespace fulcrum::replay
