// Fuzz target: Bedrock's event stream framing (EventStreamDecoder) on whatever bytes an
// upstream sends. Beyond "no crash, no out-of-bounds read" it checks two properties, aborting
// when either breaks:
//   1. however the input is cut into feed() calls, the messages, the error and the buffered
//      remainder are the same as when it is fed whole;
//   2. a decoded message, re-encoded with encode_event, decodes to itself.
// The first input byte chooses the cuts, the rest is the stream. With its top bit set the
// CRCs of every frame are recomputed first, so mutations reach the header parser instead of
// dying at a checksum.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fulcrum/provider/eventstream.hpp"

namespace {

using fulcrum::provider::EventStreamDecoder;
using fulcrum::provider::EventStreamMessage;

struct Outcome {
  std::vector<EventStreamMessage> messages;
  std::string error;
  std::size_t buffered = 0;
};

bool same(const EventStreamMessage& a, const EventStreamMessage& b) {
  if (a.payload != b.payload || a.headers.size() != b.headers.size()) return false;
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
      return false;
    }
  }
  return true;
}

bool same(const Outcome& a, const Outcome& b) {
  if (a.error != b.error || a.buffered != b.buffered) return false;
  if (a.messages.size() != b.messages.size()) return false;
  for (std::size_t i = 0; i < a.messages.size(); ++i) {
    if (!same(a.messages[i], b.messages[i])) return false;
  }
  return true;
}

// Piece sizes cycle through 1..`pattern` (pattern 0: everything at once).
Outcome decode(std::string_view bytes, unsigned pattern) {
  EventStreamDecoder decoder;
  Outcome out;
  auto keep = [&](const EventStreamMessage& m) { out.messages.push_back(m); };
  std::size_t piece = 1;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    piece = pattern == 0 ? bytes.size() : 1 + (at * 31 + pattern) % pattern;
    decoder.feed(bytes.substr(at, piece), keep);
  }
  out.error = decoder.error();
  out.buffered = decoder.buffered_bytes();
  return out;
}

std::uint32_t read_u32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<std::uint8_t>(s[at + i]);
  return v;
}

void put_u32(std::string& s, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

void reseal_frames(std::string& s) {
  using fulcrum::provider::crc32_ieee;
  for (std::size_t at = 0; s.size() - at >= 12;) {
    put_u32(s, at + 8, crc32_ieee(std::string_view(s).substr(at, 8)));
    const std::uint32_t total = read_u32(s, at);
    if (total < 16 || total > s.size() - at) return;
    put_u32(s, at + total - 4, crc32_ieee(std::string_view(s).substr(at, total - 4)));
    at += total;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned pattern = data[0] % 17;
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 0x80) reseal_frames(input);
  const std::string_view bytes = input;

  const Outcome whole = decode(bytes, 0);
  if (!same(whole, decode(bytes, 1)) || !same(whole, decode(bytes, pattern))) std::abort();

  for (const EventStreamMessage& m : whole.messages) {
    const auto frame = fulcrum::provider::encode_event(m.headers, m.payload);
    if (!frame) continue;  // e.g. an empty header name: decodable, not encodable
    const Outcome again = decode(*frame, 0);
    if (!again.error.empty() || again.messages.size() != 1 || !same(again.messages[0], m)) {
      std::abort();
    }
  }
  return 0;
}
