// The accept loop: every connection gets its own coroutine, or over a cap a 503.
#include "fulcrum/net/http_server.hpp"
#include "fulcrum/net/http_util.hpp"
#include "fulcrum/net/spawn.hpp"

namespace fulcrum::net {
namespace {

// Over a connection cap: one 503, without reading the request, then closed.
awaitable<void> refuse_connection(tcp_socket socket, config::Limits limits,
                                  std::string_view refused) {
  tcp_stream stream(std::move(socket));
  auto res = error_response(api::ApiError::too_many_connections(refused), 11, false);
  res.set(http::field::retry_after, "1");
  co_await write_response(stream, res, limits.header_timeout);
  error_code ignored;
  stream.socket().shutdown(tcp_socket::shutdown_send, ignored);
}

}  // namespace

awaitable<void> accept_loop(tcp_acceptor& acceptor, std::function<config::Limits()> limits,
                            RequestHandler handler, ConnectionTracker* tracker, ClientCaps* caps) {
  for (;;) {
    error_code ec;
    tcp_socket socket = co_await acceptor.async_accept(as_result(ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning, then keep accepting.
      steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(10));
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
                       log_if_thrown("refuse_connection"));
        continue;
      }
    }
    set_nodelay(socket);
    asio::co_spawn(acceptor.get_executor(),
                   serve_connection(ClientStream(tcp_stream(std::move(socket))), now, handler,
                                    tracker, slot ? std::move(*slot) : ClientCaps::Slot{}),
                   log_if_thrown("connection"));
  }
}

}  // namespace fulcrum::net
