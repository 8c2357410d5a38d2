#pragma once
// The completion handler every co_spawn on the data and control planes uses: a coroutine
// that ends with an exception is logged with what it was doing, never swallowed as
// asio::detached would.
#include <exception>
#include <string_view>

namespace fulcrum::net {

struct LogIfThrown {
  std::string_view what;  // a static description: "connection", "prewarm", ...

  void operator()(const std::exception_ptr& thrown) const;
};

inline LogIfThrown log_if_thrown(std::string_view what) { return LogIfThrown{what}; }

// The message of an exception, for a log line ("unknown" when it is not a std::exception).
std::string_view describe(const std::exception_ptr& thrown, std::string& storage);

}  // namespace fulcrum::net
