#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/expected.hpp"

namespace fulcrum::config {

// One thing wrong with a config file, located for a human: "demo.yaml:12:5: unknown key 'x'".
struct Issue {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem is not tied to a place
  int column = 0;  // 1-based
  std::string message;

  std::string to_string() const;
};

// Reads environment variables; tests inject their own.
using EnvLookup = std::function<const char*(const char*)>;

// Parses, validates and builds a snapshot, collecting every issue rather than stopping at the
// first, so a user fixes a file in one pass.
core::Expected<Config, std::vector<Issue>> load_file(const std::string& path,
                                                     const EnvLookup& env = {});
core::Expected<Config, std::vector<Issue>> load_string(std::string_view yaml,
                                                       const std::string& name,
                                                       const EnvLookup& env = {});

}  // namespace fulcrum::config
