#pragma once
// One HTTP/1.1 connection: read requests within limits and deadlines, reject malformed or
// ambiguous framing, and hand each request to a handler until either side ends keep-alive.
#include <functional>

#include "fulcrum/config/config.hpp"
#include "fulcrum/net/asio.hpp"
#include "fulcrum/net/client_caps.hpp"
#include "fulcrum/net/client_reply.hpp"
#include "fulcrum/net/client_stream.hpp"
#include "fulcrum/net/connection_tracker.hpp"

namespace fulcrum::net {

using Request = http::request<http::string_body>;

// Handles one request, writing the response through the reply (it may stream). Returns
// whether the connection may carry another request. A handler that throws, or returns
// without having responded, gets the connection's last resort: the error is logged with the
// request's id and the reply is ended (ClientReply::fail), then the connection closes.
using RequestHandler = std::function<awaitable<bool>(ClientReply&, Request&)>;

// With a tracker, the connection registers itself and stops taking requests once its worker
// drains. `slot` holds the connection's place under the connection caps until it ends.
awaitable<void> serve_connection(ClientStream stream, config::Limits limits, RequestHandler handler,
                                 ConnectionTracker* tracker = nullptr, ClientCaps::Slot slot = {});

// Accepts until the acceptor is closed, spawning serve_connection for each socket. With
// `caps`, a connection beyond them gets a 503 and is closed.
awaitable<void> accept_loop(tcp_acceptor& acceptor, std::function<config::Limits()> limits,
                            RequestHandler handler, ConnectionTracker* tracker = nullptr,
                            ClientCaps* caps = nullptr);

// Writes a whole response with a deadline; false when the client is gone.
awaitable<bool> write_response(tcp_stream& stream, http::response<http::string_body>& response,
                               core::Duration timeout);

}  // namespace fulcrum::net
