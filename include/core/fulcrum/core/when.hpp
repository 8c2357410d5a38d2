#pragma once
// Points in time on the command line: "2026-11-01", "2026-11-01T08:00:00Z", or a duration ago
// ("24h", "30d").
#include <cstdint>
#include <optional>
#include <string>

namespace fulcrum::core {

inline constexpr const char* kWhenHelp =
    "WHEN: 2026-11-01, 2026-11-01T08:00:00Z, or a duration ago such as 24h or 30d";

// Unix milliseconds, or nullopt when `text` is none of the forms above.
std::optional<std::int64_t> parse_when(const std::string& text);

}  // namespace fulcrum::core
