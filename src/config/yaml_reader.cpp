#include "yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace fulcrum::config {

std::string Issue::to_string() const {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

void Diagnostics::error(const YAML::Mark& mark, std::string message) {
  // yaml-cpp marks are 0-based and -1 when unknown.
  const bool placed = mark.line >= 0;
  issues_.push_back(
      Issue{file_, placed ? mark.line + 1 : 0, placed ? mark.column + 1 : 0, std::move(message)});
}

std::optional<std::string> read_string(const YAML::Node& node, Diagnostics& diag,
                                       std::string_view what) {
  if (!node.IsScalar()) {
    diag.error(node, std::string(what) + " must be a string");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<double> read_number(const YAML::Node& node, Diagnostics& diag,
                                  std::string_view what) {
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!text.empty() && ec == std::errc{} && end == text.data() + text.size() &&
        std::isfinite(value) && value >= 0) {
      return value;
    }
  }
  diag.error(node, std::string(what) + " must be a non-negative number");
  return std::nullopt;
}

std::optional<std::uint64_t> read_unsigned(const YAML::Node& node, Diagnostics& diag,
                                           std::string_view what) {
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (!text.empty() && ec == std::errc{} && end == text.data() + text.size()) return value;
  }
  diag.error(node, std::string(what) + " must be a non-negative integer");
  return std::nullopt;
}

std::optional<core::Duration> read_duration(const YAML::Node& node, Diagnostics& diag,
                                            std::string_view what) {
  if (node.IsScalar()) {
    if (auto d = core::parse_duration(node.Scalar())) return d;
  }
  diag.error(node, std::string(what) + " must be a duration such as 250ms, 2s, 5m or 1h");
  return std::nullopt;
}

MapReader::MapReader(const YAML::Node& node, Diagnostics& diag, std::string_view what)
    : node_(node), diag_(diag), what_(what) {
  if (!node.IsMap()) {
    diag_.error(node, what_ + " must be a mapping");
    return;
  }
  valid_ = true;
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      diag_.error(entry.first, "keys in " + what_ + " must be strings");
      continue;
    }
    if (!seen.insert(entry.first.Scalar()).second) {
      diag_.error(entry.first, "duplicate key '" + entry.first.Scalar() + "' in " + what_);
    }
  }
}

YAML::Node MapReader::optional(std::string_view key) {
  claimed_.emplace_back(key);
  if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& entry : node_) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) {
      if (entry.second.IsNull()) {
        diag_.error(entry.first, "'" + std::string(key) + "' in " + what_ + " has no value");
        return YAML::Node(YAML::NodeType::Undefined);
      }
      return entry.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

YAML::Node MapReader::required(std::string_view key) {
  YAML::Node value = optional(key);
  if (valid_ && !value.IsDefined()) {
    diag_.error(node_, what_ + " needs '" + std::string(key) + "'");
  }
  return value;
}

void MapReader::finish() {
  if (finished_ || !valid_) return;
  finished_ = true;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar()) continue;
    const std::string& key = entry.first.Scalar();
    if (std::find(claimed_.begin(), claimed_.end(), key) == claimed_.end()) {
      diag_.error(entry.first, "unknown key '" + key + "' in " + what_);
    }
  }
}

}  // namespace fulcrum::config
