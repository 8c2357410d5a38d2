#include "fulcrum/net/http_server.hpp"
#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {
namespace {

bool is_quiet_close(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == beast::error::timeout || ec == http::error::partial_message;
}

// Reads until the buffer holds a whole request head (through its blank line) and returns
// its length; http::error::header_limit when `limit` bytes hold none.
awaitable<std::size_t> read_raw_head(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                     std::size_t limit, error_code& ec) {
  std::size_t searched = 0;
  for (;;) {
    const std::string_view bytes(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (const auto end = bytes.find("\r\n\r\n", searched); end != std::string_view::npos) {
      co_return end + 4;
    }
    if (bytes.size() >= limit) {
      ec = http::error::header_limit;
      co_return 0;
    }
    searched = bytes.size() >= 3 ? bytes.size() - 3 : 0;  // the blank line may straddle reads
    const std::size_t got =
        co_await stream.async_read_some(buffer.prepare(limit - bytes.size()), as_result(ec));
    if (ec) co_return 0;
    buffer.commit(got);
  }
}

std::size_t header_count(const http::request_header<>& head) {
  return static_cast<std::size_t>(std::distance(head.begin(), head.end()));
}

// Over a connection cap: one 503, without reading the request, then closed.
awaitable<void> refuse_connection(tcp::socket socket, config::Limits limits,
                                  std::string_view refused) {
  beast::tcp_stream stream(std::move(socket));
  auto res = error_response(api::ApiError::too_many_connections(refused), 11, false);
  res.set(http::field::retry_after, "1");
  co_await write_response(stream, res, limits.header_timeout);
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

awaitable<bool> write_response(beast::tcp_stream& stream,
                               http::response<http::string_body>& response,
                               core::Duration timeout) {
  error_code ec;
  stream.expires_after(timeout);
  co_await http::async_write(stream, response, as_result(ec));
  co_return !ec;
}

awaitable<void> serve_connection(tcp::socket socket, config::Limits limits, RequestHandler handler,
                                 ConnectionTracker* tracker,
                                 [[maybe_unused]] ClientCaps::Slot slot) {
  set_nodelay(socket);
  beast::tcp_stream stream(std::move(socket));
  if (tracker) tracker->add(&stream);
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    if (tracker && tracker->draining()) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);

    error_code ec;
    // A new connection must send its head promptly; an idle keep-alive one may wait longer.
    stream.expires_after(first ? limits.header_timeout : limits.idle_timeout);
    // The raw head first: Beast would normalise away what must be refused (obs-fold).
    const std::size_t head_size =
        co_await read_raw_head(stream, buffer, limits.max_header_bytes, ec);
    std::optional<std::string> problem;
    if (!ec) {
      problem = raw_head_problem(
          std::string_view(static_cast<const char*>(buffer.data().data()), head_size));
      // The whole head is buffered: parse it in place, with no further read or async hop.
      if (!problem) buffer.consume(parser.put(buffer.data(), ec));
    }
    const unsigned version = parser.is_header_done() ? parser.get().version() : 11;
    if (ec == http::error::header_limit) {
      auto res =
          error_response(api::ApiError::headers_too_large(limits.max_header_bytes), 11, false);
      co_await write_response(stream, res, limits.header_timeout);
      break;
    }
    if (ec == http::error::body_limit) {
      auto res =
          error_response(api::ApiError::body_too_large(limits.max_body_bytes), version, false);
      co_await write_response(stream, res, limits.header_timeout);
      break;
    }
    if (ec && (is_quiet_close(ec) || buffer.size() == 0)) break;
    if (ec) {
      auto res =
          error_response(api::ApiError::invalid_request("Malformed HTTP request."), 11, false);
      co_await write_response(stream, res, limits.header_timeout);
      break;
    }
    if (tracker) tracker->set_busy(&stream, true);
    if (!problem && header_count(parser.get()) > limits.max_header_count) {
      auto res =
          error_response(api::ApiError::too_many_headers(limits.max_header_count), version, false);
      co_await write_response(stream, res, limits.header_timeout);
      break;
    }
    if (!problem) problem = framing_problem(parser.get());
    if (problem) {
      auto res = error_response(api::ApiError::invalid_request(*problem), version, false);
      co_await write_response(stream, res, limits.header_timeout);
      break;
    }
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, version};
      stream.expires_after(limits.header_timeout);
      co_await http::async_write(stream, go_on, as_result(ec));
      if (ec) break;
    }

    stream.expires_after(limits.idle_timeout);
    co_await http::async_read(stream, buffer, parser, as_result(ec));
    if (ec == http::error::body_limit) {
      auto res =
          error_response(api::ApiError::body_too_large(limits.max_body_bytes), version, false);
      co_await write_response(stream, res, limits.header_timeout);
      break;
    }
    if (ec && is_quiet_close(ec)) break;
    if (ec) {
      auto res = error_response(api::ApiError::invalid_request("Malformed HTTP request body."),
                                version, false);
      co_await write_response(stream, res, limits.header_timeout);
      break;
    }

    Request request = parser.release();
    const bool keep_alive = co_await handler(stream, request);
    if (tracker) tracker->set_busy(&stream, false);
    if (!keep_alive || !request.keep_alive()) break;
    first = false;
  }
  if (tracker) tracker->remove(&stream);
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, std::function<config::Limits()> limits,
                            RequestHandler handler, ConnectionTracker* tracker, ClientCaps* caps) {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(as_result(ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning, then keep accepting.
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(10));
      co_await pause.async_wait(as_result(ec));
      continue;
    }
    const config::Limits now = limits();
    std::optional<ClientCaps::Slot> slot;
    if (caps != nullptr) {
      std::string_view refused;
      error_code peer_ec;
      const auto peer = socket.remote_endpoint(peer_ec);
      if (peer_ec) continue;  // gone already
      slot = caps->admit(peer.address(), now, refused);
      if (!slot) {
        asio::co_spawn(acceptor.get_executor(), refuse_connection(std::move(socket), now, refused),
                       asio::detached);
        continue;
      }
    }
    asio::co_spawn(acceptor.get_executor(),
                   serve_connection(std::move(socket), now, handler, tracker,
                                    slot ? std::move(*slot) : ClientCaps::Slot{}),
                   asio::detached);
  }
}

}  // namespace fulcrum::net
