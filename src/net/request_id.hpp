#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace fulcrum::net {

// Request ids unique across workers and restarts without coordination: a random process
// prefix, the worker's index and a per-worker counter, as 24 hex digits.
class RequestId {
 public:
  std::string_view view() const { return {text_.data(), text_.size()}; }

 private:
  friend class RequestIdSource;
  std::array<char, 24> text_{};
};

class RequestIdSource {
 public:
  explicit RequestIdSource(unsigned worker);
  RequestId next();

 private:
  std::uint64_t prefix_;
  std::uint64_t counter_ = 0;
};

}  // namespace fulcrum::net
