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
// copy, a destroy and an indirect `prefer` per operation (3 to 4% of a worker's CPU under
// load, docs/benchmarks.md) and lets a completion resume its coroutine in place.
using executor = asio::io_context::executor_type;
using steady_timer =
    asio::basic_waitable_timer<std::chrono::steady_clock,
                               asio::wait_traits<std::chrono::steady_clock>, executor>;
using tcp_socket = asio::basic_stream_socket<tcp, executor>;
using tcp_acceptor = asio::basic_socket_acceptor<tcp, executor>;
using tcp_resolver = asio::ip::basic_resolver<tcp, executor>;
using tcp_stream = beast::basic_stream<tcp, executor>;
using stream_descriptor = asio::posix::basic_stream_descriptor<executor>;

// Clang 14 with Boost 1.74 has no co_await support in Asio; only the fuzz build
// (scripts/fuzz), which compiles the HTTP parsing helpers and no coroutine, uses it.
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
template <class T = void>
using awaitable = asio::awaitable<T, executor>;
inline constexpr asio::use_awaitable_t<executor> use_awaitable{};

// Completion token for "return the error as a value": never throws on the request path.
inline auto as_result(error_code& ec) { return asio::redirect_error(use_awaitable, ec); }
#endif

}  // namespace fulcrum::net
