// What a request holds is released by guards, whatever way its scope is left: the normal
// path, an early return, an exception, and a coroutine frame destroyed while suspended (what
// happens to every request in flight when a worker's io_context is destroyed).
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <stdexcept>

#include "fulcrum/auth/rate_limiter.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/metering/budgets.hpp"
#include "fulcrum/net/asio.hpp"
#include "fulcrum/net/client_caps.hpp"
#include "fulcrum/net/connection_tracker.hpp"
#include "fulcrum/router/live_state.hpp"

namespace fulcrum {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

constexpr const char* kConfig = R"(version: 1
endpoints:
  gpu: {kind: provisioned, base_url: "http://127.0.0.1:1/v1", hourly_usd: 1,
        capacity: {max_concurrency: 2}}
models:
  m: {targets: [gpu/m]}
keys:
  - {id: app, sha256: 0000000000000000000000000000000000000000000000000000000000000000,
     tpm: 1000}
budgets:
  - {name: all, hard_usd: 1.0}
ledger: {enabled: false}
)";

config::Config load() {
  auto loaded = config::load_string(kConfig, "guards.yaml");
  if (!loaded) {
    for (const auto& issue : loaded.error()) ADD_FAILURE() << issue.to_string();
  }
  return std::move(*loaded);
}

// Runs `hold` (which takes something and keeps it in its scope) in each of the four ways a
// scope ends, checking `held()` inside and `released()` after each.
void every_exit(const std::function<std::function<void()>()>& take,
                const std::function<bool()>& held, const std::function<bool()>& released) {
  // 1. The scope ends normally.
  {
    const auto guard = take();
    EXPECT_TRUE(held());
  }
  EXPECT_TRUE(released()) << "normal exit";
  // 2. An early return.
  [&] {
    const auto guard = take();
    EXPECT_TRUE(held());
    if (held()) return;
    ADD_FAILURE() << "unreachable";
  }();
  EXPECT_TRUE(released()) << "early return";
  // 3. An exception through the scope.
  EXPECT_THROW(
      {
        const auto guard = take();
        EXPECT_TRUE(held());
        throw std::runtime_error("boom");
      },
      std::runtime_error);
  EXPECT_TRUE(released()) << "exception";
  // 4. A coroutine suspended while holding it, destroyed with its io_context.
  {
    asio::io_context io;
    bool suspended = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          const auto guard = take();
          suspended = true;
          asio::steady_timer forever(io, 1h);
          co_await forever.async_wait(asio::use_awaitable);
        },
        asio::detached);  // the frame is destroyed with `io`, never completed
    io.poll();
    ASSERT_TRUE(suspended);
    EXPECT_TRUE(held());
  }
  EXPECT_TRUE(released()) << "coroutine destroyed";
}

// Wraps a guard into a copyable handle, so every_exit can hold any guard type the same way.
template <class Guard>
std::function<void()> keep(Guard guard) {
  auto shared = std::make_shared<Guard>(std::move(guard));
  return [shared] {};
}

TEST(Guards, ABudgetReservationIsReleasedHoweverTheRequestEnds) {
  const config::Config config = load();
  metering::BudgetBook book(config);
  const core::Money estimate = core::Money::from_usd(0.25);
  every_exit(
      [&] {
        EXPECT_TRUE(book.reserve("app", "none", estimate, core::WallClock::now()).allowed);
        return keep(metering::BudgetReservation(book, "app", "none", estimate));
      },
      [&] { return book.reserved(0) == estimate; },
      [&] { return book.reserved(0) == core::Money{}; });
  // Released, not spent: nothing was charged on any of those paths.
  EXPECT_EQ(book.spent(0, core::WallClock::now()), core::Money{});
  // Settled, the real cost is spent once, and the destructor does not settle again.
  {
    EXPECT_TRUE(book.reserve("app", "none", estimate, core::WallClock::now()).allowed);
    metering::BudgetReservation reservation(book, "app", "none", estimate);
    reservation.settle(core::Money::from_usd(0.1), core::WallClock::now());
    EXPECT_FALSE(reservation.held());
  }
  EXPECT_EQ(book.reserved(0), core::Money{});
  EXPECT_EQ(book.spent(0, core::WallClock::now()), core::Money::from_usd(0.1));
}

TEST(Guards, ARateReservationGivesItsTokensBackHoweverTheRequestEnds) {
  const config::Config config = load();
  auth::RateLimiter limiter(config);
  const auto now = core::Clock::now();
  // 1000 tokens per minute: a reservation of 600 leaves room for no second one.
  every_exit(
      [&] {
        EXPECT_TRUE(limiter.admit(0, 600, now).allowed);
        return keep(auth::RateReservation(limiter, 0, 600));
      },
      [&] { return !limiter.admit(0, 600, now).allowed; },
      [&] {
        // Room for 600 again, and given back at once for the next round.
        const bool room = limiter.admit(0, 600, now).allowed;
        if (room) limiter.settle(0, 600, 0, now);
        return room;
      });
}

TEST(Guards, AnEndpointSlotIsGivenBackHoweverTheAttemptEnds) {
  const config::Config config = load();
  router::LiveState live(config);
  router::EndpointState& gpu = live.endpoint(0);
  every_exit(
      [&] {
        auto slot = router::EndpointSlot::try_take(gpu, 2);
        EXPECT_TRUE(slot.has_value());
        return keep(std::move(*slot));
      },
      [&] { return gpu.in_flight() == 1; }, [&] { return gpu.in_flight() == 0; });
  // At the limit, no slot is handed out and nothing is taken.
  auto first = router::EndpointSlot::try_take(gpu, 2);
  auto second = router::EndpointSlot::try_take(gpu, 2);
  EXPECT_FALSE(router::EndpointSlot::try_take(gpu, 2).has_value());
  EXPECT_EQ(gpu.in_flight(), 2u);
}

TEST(Guards, AConnectionsRegistrationAndBusyFlagEndWithItsCoroutine) {
  asio::io_context io;
  net::ConnectionTracker tracker;
  net::ClientStream stream(net::tcp_stream{io});
  every_exit(
      [&] {
        auto registration =
            std::make_shared<net::ConnectionTracker::Registration>(&tracker, &stream);
        auto busy = std::make_shared<net::ConnectionTracker::Busy>(*registration);
        return std::function<void()>([registration, busy] {});
      },
      [&] { return tracker.open() == 1 && tracker.busy() == 1; },
      [&] { return tracker.open() == 0 && tracker.busy() == 0; });
  // A drain closes what is still registered: nothing registered is a stream that is gone.
  tracker.close_all();
}

TEST(Guards, AConnectionsPlaceUnderTheCapsIsGivenBack) {
  net::ClientCaps caps;
  config::Limits limits;
  limits.max_connections = 1;
  const auto address = asio::ip::make_address("127.0.0.1");
  every_exit(
      [&] {
        std::string_view refused;
        auto slot = caps.admit(address, limits, refused);
        EXPECT_TRUE(slot.has_value());
        return keep(std::move(*slot));
      },
      [&] { return caps.open() == 1; }, [&] { return caps.open() == 0; });
}

}  // namespace
}  // namespace fulcrum
