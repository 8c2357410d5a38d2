#include "upstream_io.hpp"

#include <array>

#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

}  // namespace

core::Duration bounded(core::Duration op, core::Clock::time_point deadline) {
  const auto left = std::chrono::ceil<core::Duration>(deadline - core::Clock::now());
  return std::max(core::Duration(1), std::min(op, left));
}

core::Clock::duration left_until(core::Clock::time_point deadline) {
  return std::max(core::Clock::duration::zero(), deadline - core::Clock::now());
}

bool is_stale_close(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message;
}

awaitable<error_code> read_body(UpstreamConnection& connection,
                                http::response_parser<http::buffer_body>& parser, std::string& out,
                                std::size_t limit, core::Duration idle,
                                core::Clock::time_point deadline) {
  error_code ec;
  while (!parser.is_done()) {
    // Grow by what the body still needs when Content-Length says so: resize() zero-fills,
    // and a fixed 16 KiB step would clear far more memory than a typical response holds.
    const std::size_t used = out.size();
    const auto length = parser.content_length_remaining();
    const std::size_t step =
        length && *length > 0 ? std::min<std::size_t>(*length, limit + 1) : kReadChunk;
    out.resize(used + step);
    parser.get().body().data = out.data() + used;
    parser.get().body().size = step;
    // What came with the head (usually the whole body) first, with no async hop.
    ec = parse_buffered(parser, connection.buffer);
    if (!ec && !parser.is_done()) {
      expire_in(connection.tcp(), bounded(idle, deadline));
      co_await http::async_read(connection, connection.buffer, parser, as_result(ec));
    }
    if (ec == http::error::need_buffer) ec = {};
    out.resize(used + step - parser.get().body().size);
    if (ec) co_return ec;
    if (out.size() > limit) co_return http::error::body_limit;
  }
  co_return ec;
}

namespace {

// `written` says how far the request got: a pooled connection the server had closed fails its
// write with nothing sent, and only then may the request go again on another.
awaitable<Fetched> fetch_on(UpstreamPool& pool, std::unique_ptr<UpstreamConnection> connection,
                            std::string_view head, std::string_view body,
                            core::Clock::time_point deadline, std::size_t body_limit,
                            std::size_t& written) {
  Fetched out;
  connection->tcp().expires_after(left_until(deadline));
  const std::array<asio::const_buffer, 2> bytes{asio::buffer(head), asio::buffer(body)};
  written = co_await asio::async_write(*connection, bytes, as_result(out.ec));
  if (out.ec) co_return out;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  co_await http::async_read(*connection, connection->buffer, parser, as_result(out.ec));
  if (out.ec) co_return out;
  const bool keep_alive = parser.keep_alive();
  out.response = parser.release();
  ++connection->exchanges;
  if (keep_alive) pool.give_back(std::move(connection));
  co_return out;
}

}  // namespace

awaitable<Fetched> fetch(UpstreamPool& pool, std::string_view head, std::string_view body,
                         core::Duration timeout, std::size_t body_limit) {
  const auto deadline = core::Clock::now() + timeout;
  std::size_t written = 0;
  if (auto idle = pool.take_idle()) {
    Fetched out =
        co_await fetch_on(pool, std::move(idle), head, body, deadline, body_limit, written);
    if (!(out.ec && written == 0 && is_stale_close(out.ec))) co_return out;
  }
  Fetched out;
  auto connection = co_await pool.connect(bounded(timeout, deadline), out.ec);
  if (out.ec) co_return out;
  co_return co_await fetch_on(pool, std::move(connection), head, body, deadline, body_limit,
                              written);
}

bool is_event_stream(const http::response_header<>& head) {
  const std::string_view type = field_value(head, http::field::content_type);
  return beast::iequals(type.substr(0, 17), "text/event-stream") ||
         beast::iequals(type.substr(0, 34), "application/vnd.amazon.eventstream");
}

std::string scrub(std::string text, const std::vector<const core::Secret*>& secrets) {
  for (const core::Secret* key : secrets) {
    const std::string_view secret = key->reveal();
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  return text;
}

}  // namespace fulcrum::net
