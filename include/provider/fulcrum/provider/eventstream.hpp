#pragma once
// The application/vnd.amazon.eventstream framing Bedrock streams (ConverseStream,
// InvokeModelWithResponseStream) in. One message:
//
//   total_length u32 | headers_length u32 | prelude_crc u32 = CRC32(first 8 bytes)
//   headers (headers_length bytes) | payload | message_crc u32 = CRC32(all bytes before it)
//
// integers big-endian, CRC32 the IEEE/zlib one. A header is name_length u8 | name |
// type u8 | value, with ten value types (0 true, 1 false, 2 byte, 3 int16, 4 int32, 5 int64,
// 6 bytes u16-prefixed, 7 string u16-prefixed, 8 timestamp int64, 9 uuid 16 bytes).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fulcrum::provider {

struct EventStreamHeader {
  std::string name;
  std::string value;
};

struct EventStreamMessage {
  // Only string-typed headers (type 7), in wire order. Bedrock sends :message-type
  // ("event" | "exception" | "error"), :event-type, :content-type, :exception-type, and for
  // unmodeled errors :error-code / :error-message, all as strings. Headers of other types are
  // validated and skipped.
  std::vector<EventStreamHeader> headers;
  std::string payload;

  // The value of the first string header called `name`, or "" when there is none.
  std::string_view header(std::string_view name) const;
  std::string_view message_type() const { return header(":message-type"); }
  std::string_view event_type() const { return header(":event-type"); }
  std::string_view content_type() const { return header(":content-type"); }
  std::string_view exception_type() const { return header(":exception-type"); }
};

// CRC-32/ISO-HDLC (reflected polynomial 0xEDB88320), the same function as zlib's crc32();
// table-driven here so the gateway does not link zlib for 16 bytes per message. Pass the
// previous result as `crc` to continue over more bytes.
std::uint32_t crc32_ieee(std::string_view bytes, std::uint32_t crc = 0);

// One frame with string headers and real CRCs; std::nullopt when a name is empty or longer
// than 255 bytes, a value is longer than 65535 bytes, or the frame would exceed the
// decoder's limit.
std::optional<std::string> encode_event(const std::vector<EventStreamHeader>& headers,
                                        std::string_view payload);

// Splits a byte stream into messages however it was cut into reads. The first malformed
// frame stops it for good: after a framing error nothing later in the stream can be trusted,
// so the caller should fail the upstream attempt with error().
class EventStreamDecoder {
 public:
  static constexpr std::size_t kPreludeBytes = 12;
  static constexpr std::size_t kMinMessageBytes = 16;  // prelude + message CRC
  // Far above any Bedrock event (a chunk is a few KiB); bounds what a broken or hostile
  // upstream can make us buffer.
  static constexpr std::size_t kMaxMessageBytes = 16 * 1024 * 1024;

  // Calls on_message(const EventStreamMessage&) for each message completed by `bytes`.
  // Returns false once the stream is in error (then or earlier); later calls do nothing.
  template <class OnMessage>
  bool feed(std::string_view bytes, OnMessage&& on_message) {
    if (failed()) return false;
    buffer_.append(bytes);
    std::size_t consumed = 0;
    EventStreamMessage message;
    while (next_message(std::string_view(buffer_).substr(consumed), consumed, message)) {
      on_message(static_cast<const EventStreamMessage&>(message));
    }
    if (failed()) {
      std::string().swap(buffer_);  // nothing after a bad frame is used; free it now
      return false;
    }
    buffer_.erase(0, consumed);
    return true;
  }

  bool failed() const { return !error_.empty(); }
  // Why the stream was rejected, e.g. "message CRC mismatch (...)"; empty while healthy.
  const std::string& error() const { return error_; }
  // Bytes of an unfinished message; nonzero at end of stream means it was cut short.
  // Zero once failed.
  std::size_t buffered_bytes() const { return buffer_.size(); }

 private:
  // Parses one message from the front of `bytes` into `out`, adding its size to `consumed`.
  // False when `bytes` holds no complete message or the frame is malformed (error_ is set).
  bool next_message(std::string_view bytes, std::size_t& consumed, EventStreamMessage& out);
  bool fail(std::string reason);

  std::string buffer_;
  std::string error_;
};

}  // namespace fulcrum::provider
