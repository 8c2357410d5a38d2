// The gateway's wait queue for a full provisioned endpoint: who a freed slot wakes. Waiters
// sleep on their own io_context; the test frees slots and runs the context to see who woke.
#include "slot_queue.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "fulcrum/config/loader.hpp"

namespace fulcrum::net {
namespace {

using namespace std::chrono_literals;

class SlotQueueTest : public ::testing::Test {
 protected:
  // Joins a waiter for a slot while fewer than `limit` are taken; records `name` when it
  // wakes (never by its deadline or recheck, both an hour away).
  void wait(const std::string& name, core::Duration deadline_in, int priority, unsigned limit) {
    auto waiter = std::make_shared<SlotQueue::Waiter>(io.get_executor(), now + deadline_in);
    router::Candidate candidate;
    candidate.admit_limit = limit;
    queue.join(waiter, state, 0, priority, candidate);
    asio::co_spawn(
        io,
        [this, waiter, name]() -> awaitable<void> {
          co_await waiter->sleep(1h);
          woken.push_back(name);
          queue.leave(*waiter, state);
        },
        asio::detached);
  }
  void release_one() {
    state.release();
    queue.wake_next(state);
    io.poll();
  }

  config::Endpoint endpoint;
  router::EndpointState state{endpoint};
  SlotQueue queue;
  asio::io_context io;
  core::Clock::time_point now = core::Clock::now() + 1h;
  std::vector<std::string> woken;
};

TEST_F(SlotQueueTest, AFreedSlotWakesTheEarliestDeadlineThenTheHigherPriority) {
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(state.try_admit(2));
  wait("late", 3s, 10, 2);
  wait("early", 1s, 10, 2);
  wait("tie-low", 2s, 10, 2);
  wait("tie-high", 2s, 50, 2);
  io.poll();  // all asleep
  EXPECT_EQ(state.waiting(), 4u);
  EXPECT_TRUE(woken.empty());
  const std::vector<std::string> order{"early", "tie-high", "tie-low", "late"};
  for (std::size_t i = 0; i < order.size(); ++i) {
    release_one();
    ASSERT_EQ(woken.size(), i + 1);
    EXPECT_EQ(woken.back(), order[i]);
    ASSERT_TRUE(state.try_admit(2));  // the woken one takes the slot
  }
  EXPECT_EQ(state.waiting(), 0u);
}

// Headroom: a batch waiter may only take its class's share (limit 1 of 2); the reserved slot
// freed goes to a realtime waiter behind it, and with none, wakes no one.
TEST_F(SlotQueueTest, AFreedReservedSlotNeverWakesAWaiterOutsideItsClass) {
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(state.try_admit(2));
  wait("batch", 1s, 10, 1);
  io.poll();
  release_one();  // 1 of 2 taken: batch may not go (its share is 1)
  EXPECT_TRUE(woken.empty());
  ASSERT_TRUE(state.try_admit(2));
  wait("realtime", 5s, 100, 2);
  io.poll();
  release_one();
  ASSERT_EQ(woken.size(), 1u);
  EXPECT_EQ(woken.front(), "realtime");
  release_one();  // nothing taken now: batch's share is free
  ASSERT_EQ(woken.size(), 2u);
  EXPECT_EQ(woken.back(), "batch");
}

// Two slots freed before the first woken waiter ran: each wakes a different waiter.
TEST_F(SlotQueueTest, SlotsFreedTogetherWakeAsManyWaiters) {
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(state.try_admit(2));
  wait("a", 1s, 10, 2);
  wait("b", 2s, 10, 2);
  io.poll();
  state.release();
  queue.wake_next(state);
  state.release();
  queue.wake_next(state);
  io.poll();
  EXPECT_EQ(woken, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace fulcrum::net
