#include "upstream_io.hpp"

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
    connection.tcp().expires_after(bounded(idle, deadline));
    co_await http::async_read(connection, connection.buffer, parser, as_result(ec));
    if (ec == http::error::need_buffer) ec = {};
    out.resize(used + step - parser.get().body().size);
    if (ec) co_return ec;
    if (out.size() > limit) co_return http::error::body_limit;
  }
  co_return ec;
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
