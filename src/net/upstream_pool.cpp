#include "upstream_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {

bool UpstreamConnection::peer_closed() {
  auto& socket = tcp().socket();
  if (!socket.is_open() || buffer.size() != 0) return true;
  char byte;
  const ssize_t got = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (got == 0) return true;  // FIN: the server closed it
  if (got > 0) return true;   // an unasked answer (a 408, a TLS close_notify): not reusable
  return errno != EAGAIN && errno != EWOULDBLOCK;
}

UpstreamPool::UpstreamPool(asio::io_context& io, core::Url url, ClientTls& tls)
    : io_(io), url_(std::move(url)), tls_(tls) {}

std::unique_ptr<UpstreamConnection> UpstreamPool::take_idle() {
  // Most recently used first: it is the least likely to have been closed by the server.
  while (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    if (!connection->peer_closed()) return connection;
  }
  return nullptr;
}

void UpstreamPool::give_back(std::unique_ptr<UpstreamConnection> connection) {
  if (idle_.size() >= kMaxIdle) return;  // closing it is cheaper than hoarding sockets
  connection->tcp().expires_never();
  connection->idle_since = core::Clock::now();
  idle_.push_back(std::move(connection));
}

std::size_t UpstreamPool::sweep(core::Clock::time_point now, core::Duration ttl) {
  std::erase_if(idle_, [&](const std::unique_ptr<UpstreamConnection>& connection) {
    return now - connection->idle_since > ttl || connection->peer_closed();
  });
  return idle_.size();
}

awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::connect(core::Duration timeout,
                                                                     error_code& ec) {
  const core::Url& url = url_;
  const auto deadline = core::Clock::now() + timeout;
  // The resolver has no deadline of its own; a timer cancels it. Shared ownership keeps the
  // resolver alive for a timer handler that runs after this coroutine moved on.
  auto resolver = std::make_shared<tcp_resolver>(io_);
  steady_timer guard(io_, timeout);
  guard.async_wait([resolver](error_code waited) {
    if (!waited) resolver->cancel();
  });
  const auto results =
      co_await resolver->async_resolve(url.host, std::to_string(url.port), as_result(ec));
  guard.cancel();
  if (ec) co_return nullptr;

  tcp_stream stream(io_);
  stream.expires_after(std::max(core::Clock::duration::zero(), deadline - core::Clock::now()));
  co_await stream.async_connect(results, as_result(ec));
  if (ec) co_return nullptr;
  set_nodelay(stream.socket());

  if (!url.tls) co_return std::make_unique<UpstreamConnection>(std::move(stream));

  ssl::context* context = tls_.context();
  if (context == nullptr) {
    ec = asio::error::operation_not_supported;
    co_return nullptr;
  }
  auto tls = std::make_unique<UpstreamConnection::TlsStream>(std::move(stream), *context);
  // SNI, and the name the certificate must carry.
  if (!SSL_set_tlsext_host_name(tls->native_handle(), url.host.c_str())) {
    ec = error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
    co_return nullptr;
  }
  tls->set_verify_callback(ssl::host_name_verification(url.host));
  co_await tls->async_handshake(ssl::stream_base::client, as_result(ec));
  if (ec) co_return nullptr;
  co_return std::make_unique<UpstreamConnection>(std::move(tls));
}

}  // namespace fulcrum::net
