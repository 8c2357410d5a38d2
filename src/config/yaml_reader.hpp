#pragma once
// Strict reading of YAML mappings: every key must be claimed by the schema, every value must
// have the expected type, and every complaint carries the node's line and column.
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fulcrum/config/loader.hpp"
#include "fulcrum/core/duration.hpp"

namespace fulcrum::config {

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Mark& mark, std::string message);
  void error(const YAML::Node& node, std::string message) {
    error(node.Mark(), std::move(message));
  }
  bool ok() const { return issues_.empty(); }
  const std::string& file() const { return file_; }
  std::vector<Issue> take() { return std::move(issues_); }

 private:
  std::string file_;
  std::vector<Issue> issues_;
};

// Scalar readers: report and return nullopt when the node has the wrong shape.
std::optional<std::string> read_string(const YAML::Node& node, Diagnostics& diag,
                                       std::string_view what);
std::optional<double> read_number(const YAML::Node& node, Diagnostics& diag, std::string_view what);
std::optional<std::uint64_t> read_unsigned(const YAML::Node& node, Diagnostics& diag,
                                           std::string_view what);
std::optional<core::Duration> read_duration(const YAML::Node& node, Diagnostics& diag,
                                            std::string_view what);

// Hands out the values of a mapping by key; finish() reports the keys nobody asked for.
class MapReader {
 public:
  // Reports and yields an empty reader when `node` is not a mapping.
  MapReader(const YAML::Node& node, Diagnostics& diag, std::string_view what);
  ~MapReader() { finish(); }
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  bool valid() const { return valid_; }
  // The value under `key`, or an undefined node when absent.
  YAML::Node optional(std::string_view key);
  // As optional(), but reports a missing key.
  YAML::Node required(std::string_view key);
  const YAML::Node& node() const { return node_; }

  void finish();

 private:
  YAML::Node node_;
  Diagnostics& diag_;
  std::string what_;
  bool valid_ = false;
  bool finished_ = false;
  std::vector<std::string> claimed_;
};

}  // namespace fulcrum::config
