#include "http_client.hpp"

#include <algorithm>
#include <mutex>
#include <string_view>

#include "fulcrum/net/asio.hpp"

namespace fulcrum::testing {

using namespace fulcrum::net;

struct HttpClient::State {
  asio::io_context io;
  tcp_stream stream{io};
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> parser;
  std::array<char, 65536> piece{};
};

namespace {

// Beast's deadlines apply to asynchronous operations only; blocking reads get a socket timeout
// so a test fails instead of hanging when a server goes quiet.
void set_receive_timeout(tcp_socket& socket, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

Response to_response(const http::response_header<>& head) {
  Response out;
  out.status = head.result_int();
  for (const auto& field : head) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    out.headers[name] = std::string(field.value());
  }
  return out;
}

}  // namespace

HttpClient::HttpClient(std::uint16_t port) : state_(std::make_unique<State>()) {
  state_->stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  state_->stream.socket().set_option(tcp::no_delay(true));
  set_receive_timeout(state_->stream.socket(), 30);
}

HttpClient::~HttpClient() = default;

namespace {

std::mutex transcript_mutex;
std::string& transcript_text() {
  static std::string text;
  return text;
}

void record(std::string_view received) {
  const std::lock_guard lock(transcript_mutex);
  transcript_text().append(received);
}

void record(const Response& response) {
  std::string text = std::to_string(response.status) + "\n";
  for (const auto& [name, value] : response.headers) text += name + ": " + value + "\n";
  record(text + response.body);
}

}  // namespace

std::string transcript() {
  const std::lock_guard lock(transcript_mutex);
  return transcript_text();
}

void clear_transcript() {
  const std::lock_guard lock(transcript_mutex);
  transcript_text().clear();
}

Response HttpClient::request(const std::string& method, const std::string& target,
                             const std::string& body,
                             const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  state_->stream.expires_after(std::chrono::seconds(30));
  http::write(state_->stream, req);
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  http::read(state_->stream, state_->buffer, parser);
  Response out = to_response(parser.get().base());
  out.body = parser.get().body();
  record(out);
  return out;
}

Response HttpClient::post(const std::string& target, const std::string& body,
                          const std::map<std::string, std::string>& headers) {
  return request("POST", target, body, headers);
}

Response HttpClient::get(const std::string& target) { return request("GET", target, ""); }

Response HttpClient::start(const std::string& target, const std::string& body,
                           const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  state_->stream.expires_after(std::chrono::seconds(30));
  http::write(state_->stream, req);
  state_->parser.emplace();
  state_->parser->body_limit(std::numeric_limits<std::uint64_t>::max());
  http::read_header(state_->stream, state_->buffer, *state_->parser);
  Response head = to_response(state_->parser->get().base());
  record(head);
  return head;
}

std::optional<std::string> HttpClient::next_piece() {
  auto& parser = *state_->parser;
  while (!parser.is_done()) {
    parser.get().body().data = state_->piece.data();
    parser.get().body().size = state_->piece.size();
    error_code ec;
    state_->stream.expires_after(std::chrono::seconds(30));
    http::read_some(state_->stream, state_->buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t n = state_->piece.size() - parser.get().body().size;
    record(std::string_view(state_->piece.data(), n));
    if (ec) {
      broken_ = true;
      return n > 0 ? std::optional(std::string(state_->piece.data(), n)) : std::nullopt;
    }
    if (n > 0) return std::string(state_->piece.data(), n);
  }
  return std::nullopt;
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
  asio::io_context io;
  tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  set_receive_timeout(stream.socket(), 5);
  error_code ec;
  asio::write(stream, asio::buffer(bytes), ec);
  std::string out;
  std::array<char, 4096> chunk;
  for (;;) {
    const std::size_t n = stream.read_some(asio::buffer(chunk), ec);
    out.append(chunk.data(), n);
    if (ec) break;
  }
  record(out);
  return out;
}

unsigned status_of(const std::string& raw_response) {
  if (raw_response.size() < 12 || !raw_response.starts_with("HTTP/1.")) return 0;
  return static_cast<unsigned>(std::stoi(raw_response.substr(9, 3)));
}

}  // namespace fulcrum::testing
