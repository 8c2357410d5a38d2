// The vnd.amazon.eventstream codec: aws-sdk-go's vectors, a ConverseStream cut every way,
// and every class of corrupt frame stopping the decoder for good.
#include "fulcrum/provider/eventstream.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fulcrum::provider {
namespace {

struct Decoded {
  std::vector<EventStreamMessage> messages;
  bool ok = true;
  std::string error;
};

// Feeds `bytes` in pieces of `piece` bytes (0: all at once).
Decoded decode(std::string_view bytes, std::size_t piece = 0) {
  EventStreamDecoder decoder;
  Decoded d;
  if (piece == 0) piece = bytes.size() + 1;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    d.ok = decoder.feed(bytes.substr(at, piece),
                        [&](const EventStreamMessage& m) { d.messages.push_back(m); });
  }
  d.error = decoder.error();
  return d;
}

void put_u32(std::string& frame, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) frame[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

// Recomputes both CRCs, so a test can exercise the checks that come after them.
void reseal(std::string& frame) {
  put_u32(frame, 8, crc32_ieee(std::string_view(frame).substr(0, 8)));
  put_u32(frame, frame.size() - 4, crc32_ieee(std::string_view(frame).substr(0, frame.size() - 4)));
}

// ---------------------------------------------------------------------------------------------
// aws-sdk-go's eventstream vectors, committed as they are in tests/data/eventstream (SOURCES.md):
// encoded/<kind>/<name> holds a frame, decoded/positive/<name> the message as JSON (header
// values and payload base64, CRCs as signed 32-bit), decoded/negative/<name> the reason.
const std::string kVectors = FULCRUM_TEST_DATA "/eventstream";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string base64_decode(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const std::size_t value = kAlphabet.find(c);
    if (value == std::string_view::npos) continue;  // '=' padding
    bits = bits << 6 | static_cast<std::uint32_t>(value);
    if ((count += 6) >= 8) out.push_back(static_cast<char>(bits >> (count -= 8)));
  }
  return out;
}

std::uint32_t read_u32(std::string_view frame, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<std::uint8_t>(frame[at + i]);
  return v;
}

std::uint32_t crc_field(const nlohmann::json& decoded, const char* key) {
  return static_cast<std::uint32_t>(decoded.at(key).get<std::int64_t>());
}

TEST(EventStreamVectors, PositiveVectorsDecodeToTheirDocumentedMessage) {
  for (const char* name : {"all_headers", "empty_message", "int32_header", "payload_no_headers",
                           "payload_one_str_header"}) {
    SCOPED_TRACE(name);
    const std::string frame = read_file(kVectors + "/encoded/positive/" + name);
    const auto expected =
        nlohmann::json::parse(read_file(kVectors + "/decoded/positive/" + name), nullptr, false);
    ASSERT_FALSE(frame.empty());
    ASSERT_FALSE(expected.is_discarded());
    ASSERT_EQ(frame.size(), expected.at("total_length").get<std::size_t>());
    EXPECT_EQ(read_u32(frame, 4), expected.at("headers_length").get<std::uint32_t>());
    EXPECT_EQ(crc32_ieee(std::string_view(frame).substr(0, 8)), crc_field(expected, "prelude_crc"));
    EXPECT_EQ(crc32_ieee(std::string_view(frame).substr(0, frame.size() - 4)),
              crc_field(expected, "message_crc"));

    // Of the ten header types only strings (7) are kept, in wire order.
    std::vector<EventStreamHeader> strings;
    for (const auto& h : expected.at("headers")) {
      if (h.at("type") == 7) {
        strings.push_back({h.at("name"), base64_decode(h.at("value").get<std::string>())});
      }
    }
    const std::string payload = base64_decode(expected.at("payload").get<std::string>());
    for (std::size_t piece : {0, 1, 5}) {
      const Decoded d = decode(frame, piece);
      ASSERT_TRUE(d.ok) << d.error;
      ASSERT_EQ(d.messages.size(), 1u);
      ASSERT_EQ(d.messages[0].headers.size(), strings.size());
      for (std::size_t i = 0; i < strings.size(); ++i) {
        EXPECT_EQ(d.messages[0].headers[i].name, strings[i].name);
        EXPECT_EQ(d.messages[0].headers[i].value, strings[i].value);
      }
      EXPECT_EQ(d.messages[0].payload, payload);
    }
    // With string headers only, the encoder gives the vector back byte for byte.
    if (strings.size() == expected.at("headers").size()) {
      EXPECT_EQ(encode_event(strings, payload), frame);
    }
  }
  // The names carry no leading ':', so they are not the headers Bedrock's accessors read.
  const Decoded one = decode(read_file(kVectors + "/encoded/positive/payload_one_str_header"));
  ASSERT_EQ(one.messages.size(), 1u);
  EXPECT_EQ(one.messages[0].content_type(), "");
  EXPECT_EQ(one.messages[0].header("content-type"), "application/json");
}

TEST(EventStreamVectors, NegativeVectorsAreRejectedForTheDocumentedReason) {
  for (const char* name :
       {"corrupted_header_len", "corrupted_headers", "corrupted_length", "corrupted_payload"}) {
    SCOPED_TRACE(name);
    const std::string frame = read_file(kVectors + "/encoded/negative/" + name);
    const std::string reason = read_file(kVectors + "/decoded/negative/" + name);
    ASSERT_FALSE(frame.empty());
    // aws-sdk-go's wording, then this decoder's.
    const std::string ours = reason == "Prelude checksum mismatch"   ? "prelude CRC mismatch"
                             : reason == "Message checksum mismatch" ? "message CRC mismatch"
                                                                     : "unknown reason " + reason;
    const Decoded d = decode(frame);
    EXPECT_FALSE(d.ok);
    EXPECT_TRUE(d.messages.empty());
    EXPECT_EQ(d.error.rfind(ours, 0), 0u) << d.error;
  }
}

TEST(EventStream, Crc32IsZlibs) {
  EXPECT_EQ(crc32_ieee("123456789"), 0xCBF43926u);  // the CRC-32 check value
  EXPECT_EQ(crc32_ieee("6789", crc32_ieee("12345")), 0xCBF43926u);
  EXPECT_EQ(crc32_ieee(""), 0u);
}

// ---------------------------------------------------------------------------------------------
std::string converse_stream() {
  std::string stream;
  const std::pair<const char*, const char*> kEvents[] = {
      {"messageStart", R"({"role":"assistant"})"},
      {"contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hello"}})"},
      {"contentBlockStop", R"({"contentBlockIndex":0})"},
      {"messageStop", R"({"stopReason":"end_turn"})"},
      {"metadata", R"({"usage":{"inputTokens":12,"outputTokens":3,"totalTokens":15},)"
                   R"("metrics":{"latencyMs":321}})"},
  };
  for (const auto& [type, json] : kEvents) {
    stream += *encode_event(
        {{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
        json);
  }
  return stream;
}

TEST(EventStream, RoundTripsAConverseStreamWhole) {
  const Decoded d = decode(converse_stream());
  ASSERT_TRUE(d.ok) << d.error;
  ASSERT_EQ(d.messages.size(), 5u);
  EXPECT_EQ(d.messages[0].event_type(), "messageStart");
  EXPECT_EQ(d.messages[0].message_type(), "event");
  EXPECT_EQ(d.messages[0].content_type(), "application/json");
  EXPECT_EQ(d.messages[4].event_type(), "metadata");
  EXPECT_NE(d.messages[4].payload.find("\"totalTokens\":15"), std::string::npos);
}

TEST(EventStream, AnySplitGivesTheSameMessages) {
  const std::string stream = converse_stream();
  const Decoded whole = decode(stream);
  for (std::size_t piece : {1, 2, 3, 7, 12, 13, 16, 64, 1000}) {
    const Decoded split = decode(stream, piece);
    ASSERT_TRUE(split.ok) << piece;
    ASSERT_EQ(split.messages.size(), whole.messages.size()) << piece;
    for (std::size_t i = 0; i < whole.messages.size(); ++i) {
      EXPECT_EQ(split.messages[i].headers.size(), whole.messages[i].headers.size());
      EXPECT_EQ(split.messages[i].event_type(), whole.messages[i].event_type());
      EXPECT_EQ(split.messages[i].payload, whole.messages[i].payload);
    }
  }
}

TEST(EventStream, ExceptionMessagesCarryTheirType) {
  const Decoded d = decode(*encode_event({{":exception-type", "throttlingException"},
                                          {":content-type", "application/json"},
                                          {":message-type", "exception"}},
                                         R"({"message":"Too many requests"})"));
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_EQ(d.messages[0].message_type(), "exception");
  EXPECT_EQ(d.messages[0].exception_type(), "throttlingException");
}

TEST(EventStream, CutShortStreamLeavesBufferedBytes) {
  const std::string frame = *encode_event({{":event-type", "messageStart"}}, "{}");
  EventStreamDecoder decoder;
  int messages = 0;
  EXPECT_TRUE(decoder.feed(std::string_view(frame).substr(0, frame.size() - 1),
                           [&](const EventStreamMessage&) { ++messages; }));
  EXPECT_EQ(messages, 0);
  EXPECT_EQ(decoder.buffered_bytes(), frame.size() - 1);
  EXPECT_TRUE(decoder.feed(std::string_view(frame).substr(frame.size() - 1),
                           [&](const EventStreamMessage&) { ++messages; }));
  EXPECT_EQ(messages, 1);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(EventStream, EncoderRefusesWhatTheFormatCannotCarry) {
  EXPECT_FALSE(encode_event({{"", "v"}}, ""));
  EXPECT_FALSE(encode_event({{std::string(256, 'n'), "v"}}, ""));
  EXPECT_FALSE(encode_event({{"n", std::string(65536, 'v')}}, ""));
  EXPECT_TRUE(encode_event({{std::string(255, 'n'), std::string(65535, 'v')}}, ""));
  EXPECT_FALSE(encode_event({}, std::string(EventStreamDecoder::kMaxMessageBytes - 15, 'p')));
  EXPECT_TRUE(encode_event({}, std::string(EventStreamDecoder::kMaxMessageBytes - 16, 'p')));
}

// ---------------------------------------------------------------------------------------------
// Every corruption class, each delivered whole and byte by byte, after one good message: the
// good one comes out, then the decoder stops for good with the reason.
void expect_rejected(const std::string& bad, std::string_view reason) {
  const std::string good = *encode_event({{":event-type", "messageStart"}}, "{}");
  for (std::size_t piece : {0, 1}) {
    const Decoded d = decode(good + bad + good, piece);
    EXPECT_FALSE(d.ok);
    EXPECT_EQ(d.messages.size(), 1u);
    EXPECT_EQ(d.error.rfind(reason, 0), 0u) << "got: " << d.error;
  }
}

const std::string kFrame =
    *encode_event({{":event-type", "contentBlockDelta"}, {":message-type", "event"}}, "{\"x\":1}");

TEST(EventStreamCorruption, PreludeCrc) {
  std::string bad = kFrame;
  bad[9] ^= 0x01;
  expect_rejected(bad, "prelude CRC mismatch");
}

TEST(EventStreamCorruption, MessageCrc) {
  for (std::size_t at : {std::size_t{12}, kFrame.size() - 5, kFrame.size() - 1}) {
    std::string bad = kFrame;
    bad[at] ^= 0x40;
    expect_rejected(bad, "message CRC mismatch");
  }
}

TEST(EventStreamCorruption, LengthBelowMinimum) {
  std::string bad = kFrame;
  put_u32(bad, 0, 15);
  reseal(bad);
  expect_rejected(bad, "message length 15 is below the 16-byte minimum");
}

TEST(EventStreamCorruption, LengthAboveLimitIsRejectedWithoutWaitingForIt) {
  std::string bad = kFrame;
  put_u32(bad, 0, EventStreamDecoder::kMaxMessageBytes + 1);
  reseal(bad);
  expect_rejected(bad, "message length 16777217 exceeds the 16777216-byte limit");
  expect_rejected(bad.substr(0, 12), "message length 16777217 exceeds");  // prelude alone
}

TEST(EventStreamCorruption, HeadersLengthBeyondFrame) {
  std::string bad = kFrame;
  put_u32(bad, 4, static_cast<std::uint32_t>(kFrame.size() - 15));
  reseal(bad);
  expect_rejected(bad, "headers length");
}

TEST(EventStreamCorruption, HeaderOverrunsHeadersSection) {
  std::string bad = kFrame;
  bad[12] = 100;  // first header's name length, running into the second header and payload
  reseal(bad);
  expect_rejected(bad, "header at offset 0 overruns the headers");
  bad = kFrame;
  bad[12 + 1 + 11 + 1] = '\xff';  // first header's u16 value length
  reseal(bad);
  expect_rejected(bad, "header at offset 0 overruns the headers");
}

TEST(EventStreamCorruption, UnknownHeaderType) {
  std::string bad = kFrame;
  bad[12 + 1 + 11] = 10;
  reseal(bad);
  expect_rejected(bad, "header at offset 0 has unknown value type 10");
}

TEST(EventStreamCorruption, ErrorIsStickyAcrossLaterGoodData) {
  EventStreamDecoder decoder;
  std::string bad = kFrame;
  bad[0] ^= 0x01;
  int messages = 0;
  auto count = [&](const EventStreamMessage&) { ++messages; };
  EXPECT_FALSE(decoder.feed(bad, count));
  const std::string reason = decoder.error();
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  EXPECT_FALSE(decoder.feed(kFrame, count));
  EXPECT_EQ(messages, 0);
  EXPECT_EQ(decoder.error(), reason);
}

}  // namespace
}  // namespace fulcrum::provider
