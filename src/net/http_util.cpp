#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {

void set_nodelay(tcp_socket& socket) {
  error_code ignored;  // a socket that is already closed has no delay to set
  socket.set_option(tcp::no_delay(true), ignored);
}

std::optional<std::string> raw_head_problem(std::string_view head) {
  for (std::size_t at = head.find('\r'); at != std::string_view::npos;
       at = head.find('\r', at + 1)) {
    if (at + 1 >= head.size() || head[at + 1] != '\n') return "a bare CR in the request head";
    // A line that starts with a space or tab continues the previous one (obs-fold).
    if (at + 2 < head.size() && (head[at + 2] == ' ' || head[at + 2] == '\t')) {
      return "obsolete line folding is not accepted";
    }
  }
  return std::nullopt;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

std::string percent_decoded(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

http::response<http::string_body> json_response(unsigned status, std::string body, unsigned version,
                                                bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

http::response<http::string_body> error_response(const api::ApiError& error, unsigned version,
                                                 bool keep_alive) {
  return json_response(error.status, error.to_json(), version, keep_alive);
}

tcp_acceptor make_acceptor(asio::io_context& io, const tcp::endpoint& at, bool reuse_port) {
  tcp_acceptor acceptor(io);
  acceptor.open(at.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  if (reuse_port) {
    using reuse_port_option = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    acceptor.set_option(reuse_port_option(true));
  }
  acceptor.bind(at);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

tcp::endpoint resolve_listen(const std::string& host, std::uint16_t port) {
  asio::io_context io;
  tcp_resolver resolver(io);
  const auto results = resolver.resolve(host, std::to_string(port),
                                        tcp_resolver::passive | tcp_resolver::numeric_service);
  return results.begin()->endpoint();
}

}  // namespace fulcrum::net
