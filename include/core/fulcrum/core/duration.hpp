#pragma once
#include <chrono>
#include <optional>
#include <string_view>

#include "fulcrum/core/clock.hpp"

namespace fulcrum::core {

using Duration = std::chrono::milliseconds;

// Parses "250ms", "2s", "5m", "1h" (an integer or decimal followed by a unit).
// Returns nullopt for anything else, including negative values and missing units.
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace fulcrum::core
