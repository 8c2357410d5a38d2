#pragma once
// Reading from an upstream within an attempt's deadlines, shared by the attempt, its relays
// and the late-answer reader.
#include <string>
#include <vector>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/secret.hpp"
#include "fulcrum/net/asio.hpp"
#include "upstream_pool.hpp"

namespace fulcrum::net {

// Never wait past the attempt's total deadline, and never arm a zero timer. Rounded up, so
// that a timer armed for a deadline fires at or after it, never a fraction before.
core::Duration bounded(core::Duration op, core::Clock::time_point deadline);

// How long until `deadline` on core::Clock (zero once it passed): timers are armed with this,
// never with the time point, so a test that advanced the clock does not delay them.
core::Clock::duration left_until(core::Clock::time_point deadline);

// A closed keep-alive connection, as a read or write on it reports it.
bool is_stale_close(const error_code& ec);

// Reads the rest of a response body into `out`, each read bounded by `idle` and all by
// `deadline`; http::error::body_limit beyond `limit` bytes.
awaitable<error_code> read_body(UpstreamConnection& connection,
                                http::response_parser<http::buffer_body>& parser, std::string& out,
                                std::size_t limit, core::Duration idle,
                                core::Clock::time_point deadline);

// One whole request and response on a pooled connection (or a new one), all within `timeout`:
// for the small calls that are not proxied requests (a prewarm ping, a stored response's
// lookup). A pooled connection the server closed is replaced when nothing was sent on it yet.
// The connection goes back to the pool when the exchange ended cleanly.
struct Fetched {
  error_code ec;
  http::response<http::string_body> response;
};
awaitable<Fetched> fetch(UpstreamPool& pool, std::string_view head, std::string_view body,
                         core::Duration timeout, std::size_t body_limit);

// Whether a response is a stream of events: SSE, or Bedrock's binary eventstream.
bool is_event_stream(const http::response_header<>& head);

// Upstream text may echo the key we sent (some providers quote a bad key back), or any other
// secret the gateway holds: every one is replaced before the text goes anywhere.
std::string scrub(std::string text, const std::vector<const core::Secret*>& secrets);

}  // namespace fulcrum::net
