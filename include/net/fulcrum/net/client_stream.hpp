#pragma once
// The client side of one connection: a TCP stream in the gateway, a Beast test stream in
// component tests (it can fail the Nth operation on purpose, or be read and written by the
// test directly). It is itself an asynchronous stream that dispatches at run time, so the
// connection loop and ClientReply are written once for both.
#include <stdexcept>
#include <variant>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/net/asio.hpp"
// clang-format off
// clang-format on
#include <boost/beast/_experimental/test/stream.hpp>

namespace fulcrum::net {

class ClientStream {
 public:
  using executor_type = executor;

  explicit ClientStream(tcp_stream tcp) : stream_(std::move(tcp)) {}
  explicit ClientStream(beast::test::stream test) : stream_(std::move(test)) {}

  executor_type get_executor() {
    if (auto* tcp = std::get_if<tcp_stream>(&stream_)) return tcp->get_executor();
    return std::get<beast::test::stream>(stream_).get_executor();
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (auto* tcp = std::get_if<tcp_stream>(&stream_)) {
      return tcp->async_read_some(buffers, std::forward<Token>(token));
    }
    return std::get<beast::test::stream>(stream_).async_read_some(buffers,
                                                                  std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (auto* tcp = std::get_if<tcp_stream>(&stream_)) {
      return tcp->async_write_some(buffers, std::forward<Token>(token));
    }
    return std::get<beast::test::stream>(stream_).async_write_some(buffers,
                                                                   std::forward<Token>(token));
  }

  // The deadline of the operations that follow (a test stream has none: it fails on cue).
  void expires_after(core::Duration timeout) {
    if (auto* tcp = std::get_if<tcp_stream>(&stream_)) expire_in(*tcp, timeout);
  }
  // Ends a pending read at once (operation_aborted, or eof for a test stream).
  void close() {
    error_code ignored;
    if (auto* tcp = std::get_if<tcp_stream>(&stream_)) {
      tcp->socket().close(ignored);
    } else {
      std::get<beast::test::stream>(stream_).close();
    }
  }
  // Our side is done writing: the client sees the end of the connection.
  void shutdown_send() {
    error_code ignored;
    if (auto* tcp = std::get_if<tcp_stream>(&stream_)) {
      tcp->socket().shutdown(tcp_socket::shutdown_send, ignored);
    } else {
      std::get<beast::test::stream>(stream_).close();
    }
  }
  // The TCP stream underneath, for fulcrum-sim's deliberately broken framing.
  tcp_stream& tcp() {
    if (auto* tcp = std::get_if<tcp_stream>(&stream_)) return *tcp;
    throw std::logic_error("not a TCP connection");
  }

 private:
  std::variant<tcp_stream, beast::test::stream> stream_;
};

}  // namespace fulcrum::net
