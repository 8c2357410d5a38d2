#pragma once
// A strict JSON reader over the bytes of one document that says where every value lies.
// It validates what it reads as nlohmann's parser does (RFC 8259 structure and numbers, string
// escapes and UTF-8, no number beyond a double's range, no nesting beyond the limit), but builds
// nothing: the request reader picks the few fields the gateway needs and splices its edits into
// the client's own bytes. Not a public interface of api; request.cpp is its user.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fulcrum::api {

// [begin, end) in the document.
struct Span {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
};

enum class JsonType { object, array, string, number, boolean, null };

// A number as read: its span and, when it is an integer that fits, its value.
struct JsonNumber {
  bool integer = false;  // no fraction and no exponent
  bool negative = false;
  bool fits = false;  // integer and |value| <= UINT64_MAX
  std::uint64_t magnitude = 0;
};

class JsonReader {
 public:
  JsonReader(std::string_view text, std::size_t max_depth) : text_(text), max_depth_(max_depth) {}

  bool failed() const { return failed_; }
  // Failed because containers nest deeper than the limit.
  bool too_deep() const { return too_deep_; }
  // After the top-level value: only whitespace may follow.
  bool at_end();
  std::size_t position() const { return at_; }

  // The type of the next value (whitespace skipped), or failure at the end of input.
  bool peek(JsonType& type);

  // Each consumes one value of its type, validating it, and records its span.
  bool string(Span& raw, bool& escaped);  // raw: inside the quotes, escapes as written
  bool number(Span& span, JsonNumber& number);
  bool literal(Span& span, JsonType& type, bool& value);  // true, false or null
  // Any value, validated to its end.
  bool skip(Span& span);

  // Objects and arrays: begin, then next_member / next_element until they return false with
  // the reader not failed (the closing bracket was consumed), then end_of(...) gives the span.
  bool begin_object();
  bool next_member(Span& key_raw, bool& key_escaped);  // consumes the key and the colon
  bool begin_array();
  bool next_element();
  // The offset of the closing bracket just consumed by next_member / next_element.
  std::size_t closed_at() const { return closed_at_; }
  std::size_t depth() const { return depth_; }

  // A string's bytes as JSON says them: escapes decoded into `out` (replaced, not appended).
  // Valid only for spans this reader accepted.
  static void decode(std::string_view raw, std::string& out);
  // How many bytes decode() would produce, without producing them.
  static std::size_t decoded_size(std::string_view raw);

 private:
  bool fail() {
    failed_ = true;
    return false;
  }
  void skip_whitespace();
  bool expect(char c);
  bool value(Span& span, std::size_t depth_budget);
  bool utf8_sequence();
  bool escape();

  std::string_view text_;
  std::size_t max_depth_;
  std::size_t at_ = 0;
  std::size_t depth_ = 0;
  std::size_t closed_at_ = 0;
  // Bit (d mod 64) set: the container at depth d has not read its first item yet. Aliasing is
  // harmless: a container's bit is cleared by its first item (or its close) before any deeper
  // container is opened, and is never read again.
  std::uint64_t first_bits_ = 0;
  bool failed_ = false;
  bool too_deep_ = false;
};

// `text` as a JSON string token, quotes included.
void append_json_string(std::string& out, std::string_view text);

}  // namespace fulcrum::api
