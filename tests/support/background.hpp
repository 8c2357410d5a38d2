#pragma once
// A chat request kept in flight on its own thread and connection until the test reads its
// response: for tests that hold requests at a gate, or at an upstream that never answers.
#include <map>
#include <string>
#include <thread>

#include "http_client.hpp"

namespace fulcrum::testing {

class Background {
 public:
  Background(std::uint16_t port, std::string body, std::map<std::string, std::string> headers = {})
      : thread_([this, port, body = std::move(body), headers = std::move(headers)] {
          try {
            HttpClient client(port);
            response_ = client.post("/v1/chat/completions", body, headers);
          } catch (const std::exception&) {
            response_.status = 0;  // the gateway it was sent to went away (a test killed it)
          }
        }) {}
  ~Background() {
    if (thread_.joinable()) thread_.join();
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  const Response& response() {
    if (thread_.joinable()) thread_.join();
    return response_;
  }

 private:
  Response response_;
  std::thread thread_;
};

}  // namespace fulcrum::testing
