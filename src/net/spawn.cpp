#include "fulcrum/net/spawn.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <string>

namespace fulcrum::net {

std::string_view describe(const std::exception_ptr& thrown, std::string& storage) {
  try {
    std::rethrow_exception(thrown);
  } catch (const std::exception& e) {
    storage = e.what();
  } catch (...) {
    storage = "unknown";
  }
  return storage;
}

void LogIfThrown::operator()(const std::exception_ptr& thrown) const {
  if (!thrown) return;
  std::string message;
  spdlog::error("coroutine_failed task={} error=\"{}\"", what, describe(thrown, message));
}

}  // namespace fulcrum::net
