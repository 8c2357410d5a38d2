// Where a coroutine runs: the admin handler reads the whole ledger for /admin/report and
// reloads the config on a pool of its own, and must come back to its worker to answer.
#include <gtest/gtest.h>

#include <thread>

#include "fulcrum/net/asio.hpp"

namespace fulcrum {
namespace {

namespace asio = boost::asio;

TEST(ResumeOn, MovesACoroutineToAPoolAndBackToItsWorker) {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  asio::thread_pool pool(1);
  std::thread::id pool_thread;
  asio::post(pool, [&] { pool_thread = std::this_thread::get_id(); });
  std::thread::id on_pool, back_home;
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        const auto back = co_await asio::this_coro::executor;
        co_await net::resume_on(pool.get_executor());
        on_pool = std::this_thread::get_id();
        co_await net::resume_on(back);
        back_home = std::this_thread::get_id();
        work.reset();
      },
      asio::detached);
  io.run();
  pool.join();
  EXPECT_EQ(on_pool, pool_thread);
  EXPECT_EQ(back_home, std::this_thread::get_id());
}

// The form it replaces stays on the worker: its completion goes back through the coroutine's
// own executor. (Were this ever to change, resume_on could go.)
TEST(ResumeOn, PostingToThePoolAloneLeavesTheCoroutineWhereItWas) {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::thread::id after_post;
  asio::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        co_await asio::post(pool, net::use_awaitable);
        after_post = std::this_thread::get_id();
      },
      asio::detached);
  io.run();
  pool.join();
  EXPECT_EQ(after_post, std::this_thread::get_id());
}

}  // namespace
}  // namespace fulcrum
