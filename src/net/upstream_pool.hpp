#pragma once
// Keep-alive connections to one endpoint, owned by one worker thread: only coroutines on that
// worker's io_context touch a pool, so it needs no lock.
#include <memory>
#include <variant>
#include <vector>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/url.hpp"
#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {

class UpstreamConnection {
 public:
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;

  explicit UpstreamConnection(beast::tcp_stream plain) : stream_(std::move(plain)) {}
  explicit UpstreamConnection(std::unique_ptr<TlsStream> tls) : stream_(std::move(tls)) {}

  beast::tcp_stream& tcp() {
    if (auto* plain = std::get_if<beast::tcp_stream>(&stream_)) return *plain;
    return beast::get_lowest_layer(*std::get<std::unique_ptr<TlsStream>>(stream_));
  }
  beast::tcp_stream* plain() { return std::get_if<beast::tcp_stream>(&stream_); }
  TlsStream* tls() {
    auto* tls = std::get_if<std::unique_ptr<TlsStream>>(&stream_);
    return tls ? tls->get() : nullptr;
  }

  // Bytes read past the end of the previous response stay here for the next one.
  beast::flat_buffer buffer;
  unsigned exchanges = 0;  // responses read on this connection

 private:
  std::variant<beast::tcp_stream, std::unique_ptr<TlsStream>> stream_;
};

class UpstreamPool {
 public:
  UpstreamPool(asio::io_context& io, core::Url url, ssl::context& tls);

  // An idle keep-alive connection, or null when there is none.
  std::unique_ptr<UpstreamConnection> take_idle();
  // Opens a new connection (resolve, connect, TLS handshake with SNI and peer verification),
  // all within `timeout`.
  awaitable<std::unique_ptr<UpstreamConnection>> connect(core::Duration timeout, error_code& ec);
  // Returns a connection whose last response ended cleanly with keep-alive.
  void give_back(std::unique_ptr<UpstreamConnection> connection);

 private:
  static constexpr std::size_t kMaxIdle = 256;

  asio::io_context& io_;
  const core::Url url_;
  ssl::context& tls_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;
};

}  // namespace fulcrum::net
