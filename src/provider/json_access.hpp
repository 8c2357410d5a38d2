#pragma once
// Reading other providers' JSON without exceptions: a member of another type reads as absent,
// never as a thrown type_error, and documents nested deeper than Fulcrum's readers allow are
// refused before nlohmann (whose serializer recurses) sees them.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace fulcrum::provider {

// As deep as the client's own body may nest (api's strict reader).
inline constexpr int kMaxDepth = 128;

// Whether `text` nests arrays and objects at most `max_depth` deep (strings skipped).
inline bool shallow(std::string_view text, int max_depth = kMaxDepth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// Serialized whatever bytes it holds: text taken from an upstream's binary headers (Bedrock's
// exception names and messages) need not be UTF-8, and nlohmann's dump() throws on that.
inline std::string dump_lossy(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline const nlohmann::json& member(const nlohmann::json& object, const char* key) {
  static const nlohmann::json absent;
  if (!object.is_object()) return absent;
  const auto it = object.find(key);
  return it != object.end() ? *it : absent;
}

inline std::string text_of(const nlohmann::json& object, const char* key,
                           std::string_view fallback = {}) {
  const nlohmann::json& value = member(object, key);
  return value.is_string() ? value.get<std::string>() : std::string(fallback);
}

inline bool is_true(const nlohmann::json& object, const char* key) {
  return member(object, key) == true;
}

// A token count: a non-negative integer, capped far above any real count so that sums of
// counts cannot overflow; anything else is 0.
inline std::int64_t count_of(const nlohmann::json& object, const char* key) {
  constexpr std::uint64_t kMaxCount = 1'000'000'000'000;
  const nlohmann::json& value = member(object, key);
  if (!value.is_number_unsigned()) return 0;
  return static_cast<std::int64_t>(std::min(value.get<std::uint64_t>(), kMaxCount));
}

inline bool has_count(const nlohmann::json& object, const char* key) {
  return member(object, key).is_number_unsigned();
}

}  // namespace fulcrum::provider
