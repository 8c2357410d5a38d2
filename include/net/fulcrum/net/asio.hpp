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

// Clang 14 with Boost 1.74 has no co_await support in Asio; only the fuzz build
// (scripts/fuzz), which compiles the HTTP parsing helpers and no coroutine, uses it.
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
template <class T = void>
using awaitable = asio::awaitable<T>;

// Completion token for "return the error as a value": never throws on the request path.
inline auto as_result(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }
#endif

}  // namespace fulcrum::net
