#pragma once
// The TLS context of upstream connections (the system trust store, TLS 1.2 and later), made
// on the first connection that needs it. A gateway whose endpoints are all plain HTTP (a GPU
// box on the private network, the benchmark) never initializes OpenSSL's TLS, which would
// hold about 2 MiB of memory for nothing.
#include <mutex>
#include <optional>

#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {

class ClientTls {
 public:
  // Thread-safe: workers may connect their first https upstream at the same moment.
  ssl::context& context();

 private:
  std::once_flag made_;
  std::optional<ssl::context> context_;
};

}  // namespace fulcrum::net
