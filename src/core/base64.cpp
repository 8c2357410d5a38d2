#include "fulcrum/core/base64.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace fulcrum::core {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> decoding_table() {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  for (int i = 0; i < 64; ++i)
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return table;
}

constexpr std::array<std::int8_t, 256> kDecoding = decoding_table();

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t chunk = 0;
    for (std::size_t j = 0; j < 3; ++j) {
      chunk = (chunk << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0u);
    }
    for (std::size_t j = 0; j < 4; ++j) {
      out += j <= n ? kAlphabet[(chunk >> (18 - 6 * j)) & 0x3f] : '=';
    }
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::uint32_t chunk = 0;
    std::size_t padding = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (c == '=' && last && j >= 2) {
        ++padding;
        chunk <<= 6;
        continue;
      }
      const std::int8_t value = kDecoding[static_cast<unsigned char>(c)];
      if (value < 0 || padding > 0) return std::nullopt;  // outside the alphabet, or after '='
      chunk = (chunk << 6) | static_cast<std::uint32_t>(value);
    }
    // The bits the padding leaves over must be zero: "Zh==" is not canonical "Zg==".
    if ((padding == 1 && (chunk & 0xff) != 0) || (padding == 2 && (chunk & 0xffff) != 0)) {
      return std::nullopt;
    }
    for (std::size_t j = 0; j < 3 - padding; ++j) {
      out += static_cast<char>((chunk >> (16 - 8 * j)) & 0xff);
    }
  }
  return out;
}

}  // namespace fulcrum::core
