#include "slot_queue.hpp"

#include <algorithm>

namespace fulcrum::net {

awaitable<void> SlotQueue::Waiter::sleep(core::Duration recheck) {
  if (woken_.exchange(false, std::memory_order_acq_rel)) co_return;
  // Armed with a duration: the deadline is on core::Clock, which a test may move forward, and
  // the timer runs on the real steady clock.
  const auto left = std::max(core::Clock::duration::zero(), deadline_ - core::Clock::now());
  timer_.expires_after(std::min<core::Clock::duration>(left, recheck));
  error_code ec;
  co_await timer_.async_wait(as_result(ec));  // operation_aborted: woken
  woken_.store(false, std::memory_order_release);
}

bool SlotQueue::before(const Entry& a, const Entry& b) {
  if (a.waiter->deadline() != b.waiter->deadline()) {
    return a.waiter->deadline() < b.waiter->deadline();
  }
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.arrival < b.arrival;
}

void SlotQueue::join(const std::shared_ptr<Waiter>& waiter, router::EndpointState& state,
                     std::size_t slo_class, int priority, const router::Candidate& candidate) {
  const std::lock_guard lock(mutex_);
  Entry entry{waiter, slo_class, priority, candidate, arrivals_++};
  entries_.insert(std::upper_bound(entries_.begin(), entries_.end(), entry, before),
                  std::move(entry));
  state.join_waiting(slo_class);
}

void SlotQueue::leave(const Waiter& waiter, router::EndpointState& state) {
  const std::lock_guard lock(mutex_);
  const auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const Entry& e) { return e.waiter.get() == &waiter; });
  if (it == entries_.end()) return;
  state.leave_waiting(it->slo_class);
  entries_.erase(it);
}

void SlotQueue::wake_next(const router::EndpointState& state) {
  if (state.waiting() == 0) return;
  const std::lock_guard lock(mutex_);
  // Slots taken, and those promised to waiters already woken but not yet running.
  unsigned claimed = state.in_flight();
  for (const Entry& entry : entries_) {
    // A batch waiter stays asleep while only reserved slots are free; a later realtime one
    // may take them.
    const unsigned limit = router::admit_limit_now(entry.candidate, state);
    if (limit != 0 && claimed >= limit) continue;
    if (entry.waiter->woken_.exchange(true, std::memory_order_acq_rel)) {
      ++claimed;
      continue;
    }
    asio::post(entry.waiter->timer_.get_executor(),
               [waiter = entry.waiter] { waiter->timer_.cancel(); });
    return;
  }
}

CapacitySlot::~CapacitySlot() {
  if (!slot_) return;
  slot_.reset();  // given back first, so the waiter woken below finds it free
  if (queue_ == nullptr) return;
  state_->slot_hold.observe(core::seconds_between(taken_, core::Clock::now()));
  queue_->wake_next(*state_);
}

}  // namespace fulcrum::net
