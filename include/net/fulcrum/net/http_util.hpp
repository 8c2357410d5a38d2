#pragma once
// Small HTTP helpers shared by the gateway and fulcrum-sim.
#include <optional>
#include <string>
#include <string_view>

#include "fulcrum/api/error.hpp"
#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {

// Latency over throughput on every socket: without it small SSE chunks wait 40 ms for ACKs.
void set_nodelay(tcp_socket& socket);

// Rejects request heads that HTTP/1.1 parsers disagree on (request smuggling): both
// Content-Length and Transfer-Encoding, a Transfer-Encoding other than "chunked", chunked
// HTTP/1.0, a repeated or non-numeric Content-Length, and CR, LF or NUL inside a header
// value. Returns why, or nullopt when the head is acceptable.
template <class Fields>
std::optional<std::string> framing_problem(const http::header<true, Fields>& head);

// The first value of the field `name` in `fields` (a message or its fields), or "" when there
// is none, as basic_fields::operator[] finds it. A walk comparing the name each field was
// tagged with when parsed: for the dozen fields of a message, a fraction of the cost of
// operator[]'s case-insensitive tree search, which the profile showed at some 300
// instructions a lookup. `name` must not be http::field::unknown (use the string form).
template <class Fields>
std::string_view field_value(const Fields& fields, http::field name);
// The same for a name Beast has no constant for (x-api-key), compared without case.
template <class Fields>
std::string_view field_value(const Fields& fields, std::string_view name);

// What Beast's parser would silently accept in the raw bytes of a request head (the bytes up
// to and including the blank line): obsolete line folding, which Beast joins into one value,
// and a bare CR. Returns why, or nullopt.
std::optional<std::string> raw_head_problem(std::string_view head);

// Feeds what `buffer` already holds to `parser` (eagerly: the body too), with no I/O, and
// returns need_buffer, a parse error, or success; a message that goes on past the buffer is
// not an error. Called before Beast's async_read, which would otherwise post its completion
// when nothing needs reading: one more trip through the scheduler per message.
template <bool isRequest>
error_code parse_buffered(http::basic_parser<isRequest>& parser, beast::flat_buffer& buffer);

// The request path without its query string.
std::string_view path_of(std::string_view target);
// A path segment with "%2F" and friends decoded; an invalid escape is kept as written.
std::string percent_decoded(std::string_view text);

// A complete JSON response.
http::response<http::string_body> json_response(unsigned status, std::string body, unsigned version,
                                                bool keep_alive);
http::response<http::string_body> error_response(const api::ApiError& error, unsigned version,
                                                 bool keep_alive);

// Binds a listening socket; with reuse_port several acceptors share one port and the kernel
// spreads connections across them (one acceptor per worker thread).
tcp_acceptor make_acceptor(asio::io_context& io, const tcp::endpoint& at, bool reuse_port);

// Resolves "127.0.0.1", "::1", "localhost", "0.0.0.0" without I/O beyond getaddrinfo.
tcp::endpoint resolve_listen(const std::string& host, std::uint16_t port);

}  // namespace fulcrum::net

#include "fulcrum/net/http_util_impl.hpp"
