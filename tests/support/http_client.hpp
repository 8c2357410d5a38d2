#pragma once
// A small blocking HTTP/1.1 client over a real socket, for tests. One connection, kept alive
// across requests; streamed bodies can be read piece by piece.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace fulcrum::testing {

struct Response {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port);
  ~HttpClient();

  Response post(const std::string& target, const std::string& body,
                const std::map<std::string, std::string>& headers = {});
  Response get(const std::string& target);
  Response request(const std::string& method, const std::string& target, const std::string& body,
                   const std::map<std::string, std::string>& headers = {});

  // Streaming: start() sends the request and reads the head; next_piece() returns body bytes
  // as they arrive (nullopt when the body ended, or "" with broken() when the connection broke).
  Response start(const std::string& target, const std::string& body,
                 const std::map<std::string, std::string>& headers = {});
  std::optional<std::string> next_piece();
  bool broken() const { return broken_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  bool broken_ = false;
};

// Everything test clients received from any server since the last clear: heads, bodies,
// streamed pieces and raw exchanges. Stack searches it for secrets (see Stack::audit).
std::string transcript();
void clear_transcript();

// Sends raw bytes on a fresh connection and returns everything the server answered until it
// closed the connection (or 5 s passed).
std::string raw_exchange(std::uint16_t port, const std::string& bytes);

// The status code of a raw HTTP response, or 0.
unsigned status_of(const std::string& raw_response);

}  // namespace fulcrum::testing
