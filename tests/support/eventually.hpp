#pragma once
#include <chrono>
#include <thread>

namespace fulcrum::testing {

// Polls `ready` until it holds, for at most `limit`: tests wait on a condition, never on a
// fixed sleep.
template <class Predicate>
bool eventually(Predicate ready, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ready();
}

}  // namespace fulcrum::testing
