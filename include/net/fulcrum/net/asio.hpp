#pragma once
// The one door to Boost: every file that uses Asio or Beast includes this header first.

// Boost 1.74's asio/awaitable.hpp needs std::exchange under GCC 12. Its own block, so that
// clang-format's include sorting cannot move it below the Boost headers.
#include <utility>
// clang-format off
// clang-format on
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace fulcrum::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

// Every socket, timer and coroutine of the gateway runs on one worker's io_context. Naming
// its executor type, instead of the type-erased any_io_executor Asio defaults to, saves a
// copy, a destroy and an indirect `prefer` per operation: they were 4.8% of a worker's CPU
// under load, and CPU per request fell by about 10% without them (docs/benchmarks.md).
using executor = asio::io_context::executor_type;
using steady_timer =
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, executor>;
using tcp_socket = asio::basic_stream_socket<tcp, executor>;
using tcp_acceptor = asio::basic_socket_acceptor<tcp, executor>;
using tcp_resolver = asio::ip::basic_resolver<tcp, executor>;
using tcp_stream = beast::basic_stream<tcp, executor>;
using stream_descriptor = asio::posix::basic_stream_descriptor<executor>;

// Arms both of a stream's deadlines (its read and its write) `timeout` from now with one
// clock read; Beast's expires_after reads the clock once per timer, and a request arms a
// deadline four times.
inline void expire_in(tcp_stream& stream, std::chrono::steady_clock::duration timeout) {
  stream.expires_at(std::chrono::steady_clock::now() + timeout);
}

// Clang 14 with Boost 1.74 has no co_await support in Asio; only the fuzz build
// (scripts/fuzz), which compiles the HTTP parsing helpers and no coroutine, uses it.
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
template <class T = void>
using awaitable = asio::awaitable<T, executor>;
inline constexpr asio::use_awaitable_t<executor> use_awaitable{};

// Completion token for "return the error as a value": never throws on the request path.
inline auto as_result(error_code& ec) { return asio::redirect_error(use_awaitable, ec); }

// Moves the calling coroutine onto `target`: a thread pool for blocking work, or back to its
// worker. (`co_await asio::post(target, use_awaitable)` does not: its completion is handed
// back to the coroutine's own executor, so the work would stay on the worker.)
// The completion is called on `target` itself, and a coroutine's completion resumes it in the
// thread that calls it. (Boost 1.74 cannot bind an executor to use_awaitable.)
template <class Executor>
awaitable<void> resume_on(Executor target) {
  auto hop = [target](auto resume) {
    asio::post(target, [resume = std::move(resume)]() mutable { resume(); });
  };
  co_await asio::async_initiate<const asio::use_awaitable_t<executor>&, void()>(hop, use_awaitable);
}
#endif

}  // namespace fulcrum::net
