#pragma once
// A directory of a test's own, removed with everything in it when the test is done.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fulcrum::testing {

class TempDir {
 public:
  // Under $TMPDIR (or /tmp), named after what it holds: "fulcrum-<purpose>-XXXXXX".
  explicit TempDir(std::string_view purpose = "test") {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                          "/fulcrum-" + std::string(purpose) + "-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes `text` to path()/name and returns that path.
  std::string write(std::string_view name, std::string_view text) const {
    const std::string at = file(name);
    std::ofstream(at, std::ios::binary) << text;
    return at;
  }

 private:
  std::string path_;
};

}  // namespace fulcrum::testing
