#pragma once
// Simulated time: events in the order they happen. At one instant, answers end before waits
// run out, and both before new requests arrive, so a slot freed at t is free for whoever
// arrives at t; otherwise events keep the order they were scheduled in.
#include <cstddef>
#include <cstdint>
#include <queue>
#include <tuple>
#include <vector>

#include "fulcrum/router/live_state.hpp"

namespace fulcrum::replay {

enum class EventKind : std::uint8_t { finish, deadline, arrival };

struct Event {
  router::TimePoint at;
  EventKind kind = EventKind::arrival;
  std::uint64_t order = 0;
  std::size_t flight = 0;
};

class EventQueue {
 public:
  void push(router::TimePoint at, EventKind kind, std::size_t flight) {
    events_.push(Event{at, kind, next_++, flight});
  }
  bool empty() const { return events_.empty(); }
  Event pop() {
    Event e = events_.top();
    events_.pop();
    return e;
  }

 private:
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return std::tie(a.at, a.kind, a.order) > std::tie(b.at, b.kind, b.order);
    }
  };
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::uint64_t next_ = 0;
};

}  // namespace fulcrum::replay
