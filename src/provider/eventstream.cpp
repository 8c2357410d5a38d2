// The vnd.amazon.eventstream codec: a frame's prelude, CRCs and headers checked before any
// byte of it is used; the CRC-32 table built at compile time.
#include "fulcrum/provider/eventstream.hpp"

#include <array>
#include <cstdio>

namespace fulcrum::provider {
namespace {

constexpr std::array<std::uint32_t, 256> kCrcTable = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < table.size(); ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}();

constexpr unsigned kStringType = 7;
constexpr std::size_t kMaxNameBytes = 255;
constexpr std::size_t kMaxValueBytes = 65535;

std::uint8_t byte_at(std::string_view bytes, std::size_t i) {
  return static_cast<std::uint8_t>(bytes[i]);
}

// Callers have checked that bytes[at, at + 4) exists.
std::uint32_t read_u32(std::string_view bytes, std::size_t at) {
  return std::uint32_t{byte_at(bytes, at)} << 24 | std::uint32_t{byte_at(bytes, at + 1)} << 16 |
         std::uint32_t{byte_at(bytes, at + 2)} << 8 | std::uint32_t{byte_at(bytes, at + 3)};
}

void put_u32(std::string& out, std::uint32_t v) {
  out += {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(v));
  return buf;
}

// Size of a fixed-width value, or -1 for the length-prefixed types (6, 7) and unknown ones.
int fixed_value_size(unsigned type) {
  static constexpr int kSizes[] = {0, 0, 1, 2, 4, 8, -1, -1, 8, 16};
  return type < std::size(kSizes) ? kSizes[type] : -1;
}

// Appends the string headers of `section` to `out`; returns why it is malformed, or "".
// Every read is checked against what is left of `section`, so garbage can't run past it.
std::string parse_headers(std::string_view section, std::vector<EventStreamHeader>& out) {
  std::size_t pos = 0;
  while (pos < section.size()) {
    const std::size_t header_start = pos;
    const std::size_t name_length = byte_at(section, pos++);
    if (section.size() - pos < name_length + 1) {
      return "header at offset " + std::to_string(header_start) + " overruns the headers";
    }
    const std::string_view name = section.substr(pos, name_length);
    pos += name_length;
    const unsigned type = byte_at(section, pos++);
    std::size_t value_length = 0;
    if (type == 6 || type == kStringType) {
      if (section.size() - pos < 2) {
        return "header at offset " + std::to_string(header_start) + " overruns the headers";
      }
      value_length = std::size_t{byte_at(section, pos)} << 8 | byte_at(section, pos + 1);
      pos += 2;
    } else if (fixed_value_size(type) >= 0) {
      value_length = static_cast<std::size_t>(fixed_value_size(type));
    } else {
      return "header at offset " + std::to_string(header_start) + " has unknown value type " +
             std::to_string(type);
    }
    if (section.size() - pos < value_length) {
      return "header at offset " + std::to_string(header_start) + " overruns the headers";
    }
    if (type == kStringType) {
      out.push_back({std::string(name), std::string(section.substr(pos, value_length))});
    }
    pos += value_length;
  }
  return {};
}

}  // namespace

std::uint32_t crc32_ieee(std::string_view bytes, std::uint32_t crc) {
  crc = ~crc;
  for (char c : bytes) crc = kCrcTable[(crc ^ static_cast<std::uint8_t>(c)) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

std::string_view EventStreamMessage::header(std::string_view name) const {
  for (const EventStreamHeader& h : headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

std::optional<std::string> encode_event(const std::vector<EventStreamHeader>& headers,
                                        std::string_view payload) {
  std::string section;
  for (const EventStreamHeader& h : headers) {
    if (h.name.empty() || h.name.size() > kMaxNameBytes || h.value.size() > kMaxValueBytes) {
      return std::nullopt;
    }
    section.push_back(static_cast<char>(h.name.size()));
    section += h.name;
    section += {static_cast<char>(kStringType), static_cast<char>(h.value.size() >> 8),
                static_cast<char>(h.value.size())};
    section += h.value;
  }
  const std::size_t total = EventStreamDecoder::kMinMessageBytes + section.size() + payload.size();
  if (total > EventStreamDecoder::kMaxMessageBytes) return std::nullopt;
  std::string frame;
  frame.reserve(total);
  put_u32(frame, static_cast<std::uint32_t>(total));
  put_u32(frame, static_cast<std::uint32_t>(section.size()));
  put_u32(frame, crc32_ieee(frame));
  frame += section;
  frame += payload;
  put_u32(frame, crc32_ieee(frame));
  return frame;
}

bool EventStreamDecoder::fail(std::string reason) {
  error_ = std::move(reason);
  return false;
}

bool EventStreamDecoder::next_message(std::string_view bytes, std::size_t& consumed,
                                      EventStreamMessage& out) {
  if (bytes.size() < kPreludeBytes) return false;
  // The prelude is judged as soon as it is here, so a corrupt length is never waited for.
  const std::uint32_t total = read_u32(bytes, 0);
  const std::uint32_t headers_length = read_u32(bytes, 4);
  const std::uint32_t prelude_crc = crc32_ieee(bytes.substr(0, 8));
  if (prelude_crc != read_u32(bytes, 8)) {
    return fail("prelude CRC mismatch (frame says " + hex32(read_u32(bytes, 8)) + ", computed " +
                hex32(prelude_crc) + ")");
  }
  if (total < kMinMessageBytes) {
    return fail("message length " + std::to_string(total) + " is below the 16-byte minimum");
  }
  if (total > kMaxMessageBytes) {
    return fail("message length " + std::to_string(total) + " exceeds the " +
                std::to_string(kMaxMessageBytes) + "-byte limit");
  }
  if (headers_length > total - kMinMessageBytes) {
    return fail("headers length " + std::to_string(headers_length) + " exceeds the " +
                std::to_string(total - kMinMessageBytes) + " bytes a " + std::to_string(total) +
                "-byte message has for headers and payload");
  }
  if (bytes.size() < total) return false;

  const std::string_view frame = bytes.substr(0, total);
  const std::uint32_t message_crc = crc32_ieee(frame.substr(0, total - 4));
  if (message_crc != read_u32(frame, total - 4)) {
    return fail("message CRC mismatch (frame says " + hex32(read_u32(frame, total - 4)) +
                ", computed " + hex32(message_crc) + ")");
  }
  out.headers.clear();
  if (std::string why = parse_headers(frame.substr(kPreludeBytes, headers_length), out.headers);
      !why.empty()) {
    return fail(std::move(why));
  }
  out.payload.assign(
      frame.substr(kPreludeBytes + headers_length, total - kMinMessageBytes - headers_length));
  consumed += total;
  return true;
}

}  // namespace fulcrum::provider
