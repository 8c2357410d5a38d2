// One client connection: requests are read within limits and deadlines, checked for framing
// that parsers disagree on, and handed to the handler one at a time; a handler that fails is
// answered for by the last resort here.
#include <spdlog/spdlog.h>

#include "fulcrum/net/http_server.hpp"
#include "fulcrum/net/http_util.hpp"
#include "fulcrum/net/spawn.hpp"

namespace fulcrum::net {
namespace {

bool is_quiet_close(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == beast::error::timeout || ec == http::error::partial_message;
}

// Reads until the buffer holds a whole request head (through its blank line) and returns
// its length; http::error::header_limit when `limit` bytes hold none.
awaitable<std::size_t> read_raw_head(ClientStream& stream, beast::flat_buffer& buffer,
                                     std::size_t limit, error_code& ec) {
  std::size_t searched = 0;
  for (;;) {
    const std::string_view bytes(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (const auto end = bytes.find("\r\n\r\n", searched); end != std::string_view::npos) {
      co_return end + 4;
    }
    if (bytes.size() >= limit) {
      ec = http::error::header_limit;
      co_return 0;
    }
    searched = bytes.size() >= 3 ? bytes.size() - 3 : 0;  // the blank line may straddle reads
    const std::size_t got =
        co_await stream.async_read_some(buffer.prepare(limit - bytes.size()), as_result(ec));
    if (ec) co_return 0;
    buffer.commit(got);
  }
}

std::size_t header_count(const http::request_header<>& head) {
  return static_cast<std::size_t>(std::distance(head.begin(), head.end()));
}

// How reading one request ended: a request to handle, a quiet end of the connection, or a
// refusal to write before closing.
struct ReadResult {
  bool quiet_close = false;
  std::optional<api::ApiError> refusal;
  unsigned version = 11;
};

// The raw head first (Beast would normalise away what must be refused, such as obs-fold),
// then Beast's parse of it in place, the framing checks, and the body.
awaitable<ReadResult> read_request(ClientStream& stream, beast::flat_buffer& buffer,
                                   http::request_parser<http::string_body>& parser,
                                   const config::Limits& limits, bool first) {
  ReadResult result;
  error_code ec;
  // A new connection must send its head promptly; an idle keep-alive one may wait longer.
  stream.expires_after(first ? limits.header_timeout : limits.idle_timeout);
  const std::size_t head_size = co_await read_raw_head(stream, buffer, limits.max_header_bytes, ec);
  std::optional<std::string> problem;
  if (!ec) {
    problem = raw_head_problem(
        std::string_view(static_cast<const char*>(buffer.data().data()), head_size));
    // The whole head is buffered: parse it in place, with no further read or async hop.
    if (!problem) buffer.consume(parser.put(buffer.data(), ec));
  }
  result.version = parser.is_header_done() ? parser.get().version() : 11;
  if (ec == http::error::header_limit) {
    result.refusal = api::ApiError::headers_too_large(limits.max_header_bytes);
  } else if (ec == http::error::body_limit) {
    result.refusal = api::ApiError::body_too_large(limits.max_body_bytes);
  } else if (ec && (is_quiet_close(ec) || buffer.size() == 0)) {
    result.quiet_close = true;
  } else if (ec) {
    result.refusal = api::ApiError::invalid_request("Malformed HTTP request.");
  } else if (!problem && header_count(parser.get()) > limits.max_header_count) {
    result.refusal = api::ApiError::too_many_headers(limits.max_header_count);
  } else if (problem || (problem = framing_problem(parser.get()))) {
    result.refusal = api::ApiError::invalid_request(*problem);
  }
  if (result.refusal || result.quiet_close) co_return result;

  if (beast::iequals(field_value(parser.get(), http::field::expect), "100-continue")) {
    http::response<http::empty_body> go_on{http::status::continue_, result.version};
    stream.expires_after(limits.header_timeout);
    co_await http::async_write(stream, go_on, as_result(ec));
    if (ec) result.quiet_close = true;
    if (ec) co_return result;
  }
  // The body usually came with the head: then it is parsed where it lies, with no async hop.
  ec = parse_buffered(parser, buffer);
  if (!ec && !parser.is_done()) {
    stream.expires_after(limits.idle_timeout);
    co_await http::async_read(stream, buffer, parser, as_result(ec));
  }
  if (ec == http::error::body_limit) {
    result.refusal = api::ApiError::body_too_large(limits.max_body_bytes);
  } else if (ec && is_quiet_close(ec)) {
    result.quiet_close = true;
  } else if (ec) {
    result.refusal = api::ApiError::invalid_request("Malformed HTTP request body.");
  }
  co_return result;
}

// The handler, and the last resort when it throws or returns without having responded:
// logged with the request's id, the reply ended as well as it still can be, the connection
// closed (returns false).
awaitable<bool> handle(const RequestHandler& handler, ClientReply& reply, Request& request) {
  std::exception_ptr thrown;
  bool keep_alive = false;
  try {
    keep_alive = co_await handler(reply, request);
  } catch (...) {
    thrown = std::current_exception();
  }
  if (!thrown && reply.progress() != ClientReply::Progress::nothing) co_return keep_alive;
  std::string message;
  spdlog::error("request_failed request_id={} path={} error=\"{}\"", reply.request_id(),
                path_of(request.target()),
                thrown ? describe(thrown, message) : "the handler returned without a response");
  // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
  const auto error = api::ApiError::internal(
      "Fulcrum failed while handling this request (request id " +
      std::string(reply.request_id().empty() ? "none" : reply.request_id()) +
      "); the failure is logged. Retry the request.");
  co_await reply.fail(error);
  co_return false;
}

}  // namespace

awaitable<bool> write_response(tcp_stream& stream, http::response<http::string_body>& response,
                               core::Duration timeout) {
  error_code ec;
  stream.expires_after(timeout);
  co_await http::async_write(stream, response, as_result(ec));
  co_return !ec;
}

awaitable<void> serve_connection(ClientStream stream, config::Limits limits, RequestHandler handler,
                                 ConnectionTracker* tracker,
                                 [[maybe_unused]] ClientCaps::Slot slot) {
  const ConnectionTracker::Registration registration(tracker, &stream);
  beast::flat_buffer buffer;
  for (bool first = true; !registration.draining(); first = false) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    const ReadResult read = co_await read_request(stream, buffer, parser, limits, first);
    if (read.quiet_close) break;
    const ConnectionTracker::Busy busy(registration);
    if (read.refusal) {
      ClientReply reply(stream, read.version, false, limits.header_timeout);
      auto response = error_response(*read.refusal, read.version, false);
      co_await reply.send(response);
      break;
    }
    Request request = parser.release();
    ClientReply reply(stream, request.version(), request.keep_alive(), limits.idle_timeout);
    if (!co_await handle(handler, reply, request) || !request.keep_alive()) break;
  }
  stream.shutdown_send();
}

}  // namespace fulcrum::net
