#pragma once
// Keep-alive connections to one endpoint, owned by one worker thread: only coroutines on that
// worker's io_context touch a pool, so it needs no lock.
#include <memory>
#include <variant>
#include <vector>

#include "client_tls.hpp"
#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/url.hpp"
#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {

// One upstream connection, plain or TLS. It is itself an asynchronous stream (Beast's
// AsyncReadStream and AsyncWriteStream), so the proxy's code is written once for both kinds.
class UpstreamConnection {
 public:
  using TlsStream = beast::ssl_stream<tcp_stream>;
  using executor_type = tcp_stream::executor_type;

  explicit UpstreamConnection(tcp_stream plain) : stream_(std::move(plain)) {}
  explicit UpstreamConnection(std::unique_ptr<TlsStream> tls) : stream_(std::move(tls)) {}

  tcp_stream& tcp() {
    if (auto* plain = std::get_if<tcp_stream>(&stream_)) return *plain;
    return beast::get_lowest_layer(*std::get<std::unique_ptr<TlsStream>>(stream_));
  }
  executor_type get_executor() { return tcp().get_executor(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (auto* tls = std::get_if<std::unique_ptr<TlsStream>>(&stream_)) {
      return (*tls)->async_read_some(buffers, std::forward<Token>(token));
    }
    return std::get<tcp_stream>(stream_).async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (auto* tls = std::get_if<std::unique_ptr<TlsStream>>(&stream_)) {
      return (*tls)->async_write_some(buffers, std::forward<Token>(token));
    }
    return std::get<tcp_stream>(stream_).async_write_some(buffers, std::forward<Token>(token));
  }

  // Whether the peer closed this idle connection (or sent something unasked, which leaves it
  // unusable): checked without blocking before a pooled connection carries a request, so a
  // request is never written into a connection that is already gone.
  bool peer_closed();

  // Bytes read past the end of the previous response stay here for the next one.
  beast::flat_buffer buffer;
  unsigned exchanges = 0;              // responses read on this connection
  core::Clock::time_point idle_since;  // when it was last given back

 private:
  std::variant<tcp_stream, std::unique_ptr<TlsStream>> stream_;
};

class UpstreamPool {
 public:
  UpstreamPool(asio::io_context& io, core::Url url, ClientTls& tls);

  // An idle keep-alive connection that is still open at both ends, or null when none is.
  std::unique_ptr<UpstreamConnection> take_idle();
  // Opens a new connection (resolve, connect, TLS handshake with SNI and peer verification),
  // all within `timeout`.
  awaitable<std::unique_ptr<UpstreamConnection>> connect(core::Duration timeout, error_code& ec);
  // Returns a connection whose last response ended cleanly with keep-alive.
  void give_back(std::unique_ptr<UpstreamConnection> connection);
  // Closes idle connections the peer closed, and those idle for longer than `ttl`, so that
  // nothing lingers in CLOSE_WAIT. Returns how many are left.
  std::size_t sweep(core::Clock::time_point now, core::Duration ttl);

  std::size_t idle() const { return idle_.size(); }

 private:
  static constexpr std::size_t kMaxIdle = 256;

  asio::io_context& io_;
  const core::Url url_;
  ClientTls& tls_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;
};

}  // namespace fulcrum::net
