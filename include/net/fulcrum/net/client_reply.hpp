#pragma once
// The client's side of one request's response, as every handler writes it. It frames what is
// written (a whole response, a chunked stream, or for HTTP/1.0 a stream delimited by closing)
// and remembers how far the response got, so that the connection's last-resort handler can
// still end it in a way the client understands: a 500 in OpenAI's shape when nothing was
// sent, an SSE error event and no [DONE] when a stream was under way.
#include <string>
#include <string_view>

#include "fulcrum/api/error.hpp"
#include "fulcrum/core/duration.hpp"
#include "fulcrum/net/asio.hpp"
#include "fulcrum/net/client_stream.hpp"

namespace fulcrum::net {

class ClientReply {
 public:
  enum class Progress {
    nothing,    // not a byte sent
    streaming,  // a stream's head went out (or is about to, with its first events)
    complete,   // the response ended
    unknown,    // the handler wrote raw bytes (fulcrum-sim): only closing is safe
  };

  ClientReply(ClientStream& stream, unsigned version, bool keep_alive, core::Duration write_timeout)
      : stream_(stream), version_(version), keep_alive_(keep_alive), timeout_(write_timeout) {}
  ClientReply(const ClientReply&) = delete;
  ClientReply& operator=(const ClientReply&) = delete;

  unsigned version() const { return version_; }
  bool keep_alive() const { return keep_alive_; }
  Progress progress() const { return progress_; }
  // The connection ends after this response (a stream cut mid-way, say).
  void close_after() { keep_alive_ = false; }
  // Whether the client may send another request on this connection once this one ends.
  bool reusable() const { return progress_ == Progress::complete && keep_alive_ && !broken_; }

  // The request's id, for the last resort's log line.
  void set_request_id(std::string_view id) { request_id_ = id; }
  std::string_view request_id() const { return request_id_; }

  // A whole response. False when the client is gone.
  awaitable<bool> send(http::response<http::string_body>& response);
  // A whole response whose head is already written (wire.hpp, with its Content-Length).
  awaitable<bool> send(std::string_view head, std::string_view body);

  // Streams. HTTP/1.1 clients get chunks; HTTP/1.0 ones get the bytes until the connection
  // closes (the head must say which: Framing::chunked() or until_close()).
  bool chunked() const { return version_ >= 11; }
  // `head` leaves with the first write(); a stream that writes nothing still sends it at end.
  void begin_stream(std::string head);
  awaitable<bool> write(std::string_view payload);
  // The last payload and the stream's end, in one write.
  awaitable<bool> end(std::string_view payload);

  // Last resort: ends the response in whatever state it is in, then the connection must close.
  awaitable<void> fail(const api::ApiError& error);

  // For fulcrum-sim, which writes deliberately broken framing: the response's state is then
  // unknown and fail() only lets the connection close.
  tcp_stream& raw() {
    progress_ = Progress::unknown;
    return stream_.tcp();
  }

 private:
  awaitable<bool> write_chunk(std::string_view payload, bool last);

  ClientStream& stream_;
  unsigned version_;
  bool keep_alive_;
  core::Duration timeout_;
  Progress progress_ = Progress::nothing;
  bool broken_ = false;  // a write failed: the client is gone or the response is cut
  std::string head_;     // a stream's head, until it is written
  std::string request_id_;
};

}  // namespace fulcrum::net
