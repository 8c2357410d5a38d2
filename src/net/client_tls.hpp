#pragma once
// The TLS context of upstream connections (the system trust store, TLS 1.2 and later), made
// on the first connection that needs it. A gateway whose endpoints are all plain HTTP (a GPU
// box on the private network, the benchmark) never builds one: with its trust store it held
// about 2 MiB of memory for nothing.
#include <mutex>
#include <optional>

#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {

class ClientTls {
 public:
  // Thread-safe: workers may connect their first https upstream at the same moment. Null when
  // OpenSSL could not make it (logged once): the connection fails, nothing throws.
  ssl::context* context();

 private:
  std::once_flag made_;
  std::optional<ssl::context> context_;
};

}  // namespace fulcrum::net
