#pragma once
// The gateway-side wait for a slot on a full provisioned endpoint (issue #19): requests whose
// class has slack wait here, earliest deadline first, instead of spilling to serverless at
// once. A waiter is woken when a slot it may take frees up; it then takes the slot like any
// request (EndpointSlot::try_take against its class's limit, so a reserved slot is never
// taken), and when its deadline comes first, it leaves and spills.
//
// One queue per endpoint, shared by every worker thread and kept across reloads by name. The
// lock is taken only by requests that wait and by releases while someone waits: a release
// checks EndpointState::waiting() first, so the plain path stays lock-free.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "fulcrum/net/asio.hpp"
#include "fulcrum/router/live_state.hpp"
#include "fulcrum/router/plan.hpp"

namespace fulcrum::net {

class SlotQueue {
 public:
  // One request's place in the queue, on the worker thread that waits.
  class Waiter {
   public:
    Waiter(const net::executor& on, core::Clock::time_point deadline)
        : timer_(on), deadline_(deadline) {}
    core::Clock::time_point deadline() const { return deadline_; }
    // Sleeps until woken, the deadline, or `recheck` from now, whichever comes first.
    awaitable<void> sleep(core::Duration recheck);

   private:
    friend class SlotQueue;
    steady_timer timer_;
    core::Clock::time_point deadline_;
    // Set by the waking thread; the timer's cancel is posted to the waiter's own thread, and
    // the flag covers a wake that arrives while the waiter is not asleep.
    std::atomic<bool> woken_{false};
  };

  // Joins the queue: woken by wake_next when `state` has fewer slots taken than the candidate's
  // limit allows now (router::admit_limit_now) and no
  // earlier deadline (then higher priority, then earlier arrival) waits for one.
  void join(const std::shared_ptr<Waiter>& waiter, router::EndpointState& state,
            std::size_t slo_class, int priority, const router::Candidate& candidate);
  void leave(const Waiter& waiter, router::EndpointState& state);
  // After a slot was given back: wakes the first waiter that may take a slot now. Cheap when
  // nobody waits.
  void wake_next(const router::EndpointState& state);

 private:
  struct Entry {
    std::shared_ptr<Waiter> waiter;
    std::size_t slo_class = 0;
    int priority = 0;
    router::Candidate candidate;  // its limit is worked out at each wake (admit_limit_now)
    std::uint64_t arrival = 0;
  };
  static bool before(const Entry& a, const Entry& b);

  std::mutex mutex_;
  std::vector<Entry> entries_;  // in waking order; short (capacity.max_waiting bounds it)
  std::uint64_t arrivals_ = 0;
};

// An endpoint slot. On a provisioned endpoint with a capacity (`queue` given), giving it back
// teaches the endpoint how long a slot is held and wakes the next waiter; elsewhere it only
// counts (no clock read). Movable; the moved-from object holds nothing.
class CapacitySlot {
 public:
  CapacitySlot(router::EndpointSlot slot, router::EndpointState& state, SlotQueue* queue)
      : slot_(std::move(slot)),
        state_(&state),
        queue_(queue),
        taken_(queue != nullptr ? core::Clock::now() : core::Clock::time_point{}) {}
  CapacitySlot(CapacitySlot&& other) noexcept
      : slot_(std::move(other.slot_)),
        state_(other.state_),
        queue_(std::exchange(other.queue_, nullptr)),
        taken_(other.taken_) {
    other.slot_.reset();
  }
  CapacitySlot& operator=(CapacitySlot&&) = delete;
  ~CapacitySlot();

 private:
  std::optional<router::EndpointSlot> slot_;
  router::EndpointState* state_;
  SlotQueue* queue_;  // null: nothing to learn or wake
  core::Clock::time_point taken_;
};

}  // namespace fulcrum::net
