#include "fulcrum/net/client_reply.hpp"

#include <array>
#include <cstdio>

#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {

awaitable<bool> ClientReply::send(http::response<http::string_body>& response) {
  error_code ec;
  stream_.expires_after(timeout_);
  progress_ = Progress::complete;
  co_await http::async_write(stream_, response, as_result(ec));
  broken_ = broken_ || ec;
  co_return !ec;
}

awaitable<bool> ClientReply::send(std::string_view head, std::string_view body) {
  error_code ec;
  const std::array<asio::const_buffer, 2> pieces{asio::buffer(head), asio::buffer(body)};
  stream_.expires_after(timeout_);
  progress_ = Progress::complete;
  co_await asio::async_write(stream_, pieces, as_result(ec));
  broken_ = broken_ || ec;
  co_return !ec;
}

void ClientReply::begin_stream(std::string head) {
  head_ = std::move(head);
  progress_ = Progress::streaming;
}

awaitable<bool> ClientReply::write(std::string_view payload) {
  co_return co_await write_chunk(payload, false);
}

awaitable<bool> ClientReply::end(std::string_view payload) {
  const bool ok = co_await write_chunk(payload, true);
  progress_ = Progress::complete;
  co_return ok;
}

// One write: the head if it has not gone yet, the payload as one chunk (raw for HTTP/1.0),
// and with `last` the chunked terminator.
awaitable<bool> ClientReply::write_chunk(std::string_view payload, bool last) {
  if (broken_) co_return false;
  const bool framed = chunked() && !payload.empty();
  char size_line[20];
  const int size_length = std::snprintf(size_line, sizeof size_line, "%zx\r\n", payload.size());
  const std::array<asio::const_buffer, 5> pieces{
      asio::buffer(head_), asio::buffer(size_line, framed ? size_length : 0), asio::buffer(payload),
      asio::buffer("\r\n", framed ? 2 : 0), asio::buffer("0\r\n\r\n", chunked() && last ? 5 : 0)};
  error_code ec;
  stream_.expires_after(timeout_);
  co_await asio::async_write(stream_, pieces, as_result(ec));
  head_.clear();
  broken_ = broken_ || ec;
  co_return !ec;
}

awaitable<void> ClientReply::fail(const api::ApiError& error) {
  keep_alive_ = false;
  switch (progress_) {
    case Progress::nothing: {
      auto response = error_response(error, version_, false);
      co_await send(response);
      break;
    }
    case Progress::streaming: {
      // In-band, as a stream cut for any other reason ends: an error event and no [DONE], so
      // no client mistakes what it got for a complete answer. Named, not a temporary in the
      // co_await: GCC 12 destroys such temporaries twice.
      const std::string event = "data: " + error.to_json() + "\n\n";
      co_await end(event);
      break;
    }
    case Progress::complete:
    case Progress::unknown:
      break;
  }
  broken_ = true;  // whatever was written, the connection ends here
}

}  // namespace fulcrum::net
