#pragma once
#include <string>
#include <string_view>

namespace fulcrum::core {

// A provider key. It has no operator<< and no implicit conversion, so it cannot end up in a
// log line or an error message by accident; the one place that needs the text calls reveal().
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  bool empty() const { return value_.empty(); }
  std::string_view reveal() const { return value_; }

 private:
  std::string value_;
};

}  // namespace fulcrum::core
