#include "json_reader.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fulcrum::api {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

std::size_t utf8_size(std::uint32_t code) {
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}

std::uint32_t hex4(std::string_view s) {
  std::uint32_t v = 0;
  for (char c : s.substr(0, 4)) v = (v << 4) | static_cast<std::uint32_t>(hex_value(c));
  return v;
}

// Walks a validated string's escapes, calling emit(code point) for \u escapes and
// emit_byte(char) for everything else.
template <class Code, class Byte>
void walk_escapes(std::string_view raw, Code&& code_point, Byte&& byte) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      byte(raw[i]);
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'b':
        byte('\b');
        break;
      case 'f':
        byte('\f');
        break;
      case 'n':
        byte('\n');
        break;
      case 'r':
        byte('\r');
        break;
      case 't':
        byte('\t');
        break;
      case 'u': {
        std::uint32_t code = hex4(raw.substr(i + 1));
        i += 4;
        if (code >= 0xD800 && code <= 0xDBFF) {  // a validated pair: \uD8xx\uDCxx
          const std::uint32_t low = hex4(raw.substr(i + 3));
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        code_point(code);
        break;
      }
      default:
        byte(e);
        break;  // " \ /
    }
  }
}

}  // namespace

void JsonReader::skip_whitespace() {
  while (at_ < text_.size()) {
    const char c = text_[at_];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    ++at_;
  }
}

bool JsonReader::expect(char c) {
  skip_whitespace();
  if (at_ >= text_.size() || text_[at_] != c) return fail();
  ++at_;
  return true;
}

bool JsonReader::at_end() {
  skip_whitespace();
  return !failed_ && at_ == text_.size();
}

bool JsonReader::peek(JsonType& type) {
  skip_whitespace();
  if (failed_ || at_ >= text_.size()) return fail();
  switch (text_[at_]) {
    case '{':
      type = JsonType::object;
      return true;
    case '[':
      type = JsonType::array;
      return true;
    case '"':
      type = JsonType::string;
      return true;
    case 't':
    case 'f':
      type = JsonType::boolean;
      return true;
    case 'n':
      type = JsonType::null;
      return true;
    default:
      if (text_[at_] == '-' || is_digit(text_[at_])) {
        type = JsonType::number;
        return true;
      }
      return fail();
  }
}

// One UTF-8 sequence starting at a byte >= 0x80, well-formed per RFC 3629 (no overlong forms,
// no surrogates, nothing beyond U+10FFFF), as nlohmann requires.
bool JsonReader::utf8_sequence() {
  const auto byte = [&](std::size_t k) {
    return at_ + k < text_.size() ? static_cast<unsigned char>(text_[at_ + k]) : 0u;
  };
  const unsigned b0 = byte(0);
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    const unsigned b = byte(k);
    return b >= lo && b <= hi;
  };
  std::size_t n = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = cont(1) ? 2 : 0;
  } else if (b0 == 0xE0) {
    n = cont(1, 0xA0) && cont(2) ? 3 : 0;
  } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    n = cont(1) && cont(2) ? 3 : 0;
  } else if (b0 == 0xED) {
    n = cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  } else if (b0 == 0xF0) {
    n = cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    n = cont(1) && cont(2) && cont(3) ? 4 : 0;
  } else if (b0 == 0xF4) {
    n = cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  }
  if (n == 0) return fail();
  at_ += n;
  return true;
}

// After a backslash: one of the escapes JSON allows; a \u high surrogate must be followed by a
// \u low one, and a low one may not stand alone.
bool JsonReader::escape() {
  if (at_ >= text_.size()) return fail();
  const char e = text_[at_++];
  if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
      e == 't') {
    return true;
  }
  if (e != 'u') return fail();
  const auto read_hex4 = [&](std::uint32_t& code) {
    if (at_ + 4 > text_.size()) return false;
    code = 0;
    for (int k = 0; k < 4; ++k) {
      const int v = hex_value(text_[at_ + k]);
      if (v < 0) return false;
      code = (code << 4) | static_cast<std::uint32_t>(v);
    }
    at_ += 4;
    return true;
  };
  std::uint32_t code = 0;
  if (!read_hex4(code)) return fail();
  if (code >= 0xDC00 && code <= 0xDFFF) return fail();
  if (code >= 0xD800 && code <= 0xDBFF) {
    if (at_ + 2 > text_.size() || text_[at_] != '\\' || text_[at_ + 1] != 'u') return fail();
    at_ += 2;
    std::uint32_t low = 0;
    if (!read_hex4(low) || low < 0xDC00 || low > 0xDFFF) return fail();
  }
  return true;
}

namespace {

// Whether eight bytes hold no quote, backslash, control byte or UTF-8 byte.
bool plain_ascii8(const char* at) {
  std::uint64_t v = 0;
  std::memcpy(&v, at, sizeof v);
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  const auto has_zero_byte = [](std::uint64_t x) { return (x - kOnes) & ~x & kHigh; };
  const std::uint64_t special = (v & kHigh) | has_zero_byte(v ^ (kOnes * '"')) |
                                has_zero_byte(v ^ (kOnes * '\\')) |
                                ((v - kOnes * 0x20) & ~v & kHigh);
  return special == 0;
}

// How many of the `n` bytes at `at` are plain text (no quote, backslash, control byte or UTF-8
// byte) before the first that is not, or about that many: the string scanner steps over them
// at once and reads the rest byte by byte. Strings are most of a chat request's bytes; byte by
// byte their scan was 3.5% of a worker's CPU, eight bytes at a time still a tenth of its
// instructions. Sixteen at a time (SSE2, every x86-64) it is a few instructions per block.
std::size_t plain_run(const char* at, std::size_t n) {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + i));
    // A signed compare: bytes from 0x80 up are negative, so one test finds control bytes and
    // UTF-8 bytes alike.
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmplt_epi8(v, space));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#endif
  while (i + 8 <= n && plain_ascii8(at + i)) i += 8;
  return i;
}

}  // namespace

bool JsonReader::string(Span& raw, bool& escaped) {
  if (!expect('"')) return false;
  raw.begin = at_;
  escaped = false;
  while (at_ < text_.size()) {
    at_ += plain_run(text_.data() + at_, text_.size() - at_);
    if (at_ >= text_.size()) break;
    const auto c = static_cast<unsigned char>(text_[at_]);
    if (c == '"') {
      raw.end = at_++;
      return true;
    }
    if (c < 0x20) return fail();
    if (c == '\\') {
      escaped = true;
      ++at_;
      if (!escape()) return false;
    } else if (c >= 0x80) {
      if (!utf8_sequence()) return false;
    } else {
      ++at_;
    }
  }
  return fail();
}

bool JsonReader::number(Span& span, JsonNumber& number) {
  skip_whitespace();
  span.begin = at_;
  number = JsonNumber{};
  if (at_ < text_.size() && text_[at_] == '-') {
    number.negative = true;
    ++at_;
  }
  if (at_ >= text_.size() || !is_digit(text_[at_])) return fail();
  bool overflow = false;
  if (text_[at_] == '0') {
    ++at_;
  } else {
    while (at_ < text_.size() && is_digit(text_[at_])) {
      const auto d = static_cast<std::uint64_t>(text_[at_++] - '0');
      if (number.magnitude > (UINT64_MAX - d) / 10) overflow = true;
      number.magnitude = number.magnitude * 10 + d;
    }
  }
  number.integer = true;
  if (at_ < text_.size() && text_[at_] == '.') {
    number.integer = false;
    ++at_;
    if (at_ >= text_.size() || !is_digit(text_[at_])) return fail();
    while (at_ < text_.size() && is_digit(text_[at_])) ++at_;
  }
  if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
    number.integer = false;
    ++at_;
    if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
    if (at_ >= text_.size() || !is_digit(text_[at_])) return fail();
    while (at_ < text_.size() && is_digit(text_[at_])) ++at_;
  }
  span.end = at_;
  // nlohmann reads a negative integer as int64 and a positive one as uint64; anything else as
  // a double, which must be finite.
  const bool fits_signed = !number.negative || number.magnitude <= (std::uint64_t{1} << 63);
  number.fits = number.integer && !overflow && fits_signed;
  if (!number.fits) {
    const std::string copy(text_.substr(span.begin, span.size()));
    if (!std::isfinite(std::strtod(copy.c_str(), nullptr))) return fail();
    if (overflow || !fits_signed) number.magnitude = 0;
  }
  return true;
}

bool JsonReader::literal(Span& span, JsonType& type, bool& value) {
  skip_whitespace();
  span.begin = at_;
  const std::string_view rest = text_.substr(at_);
  if (rest.starts_with("true")) {
    type = JsonType::boolean;
    value = true;
    at_ += 4;
  } else if (rest.starts_with("false")) {
    type = JsonType::boolean;
    value = false;
    at_ += 5;
  } else if (rest.starts_with("null")) {
    type = JsonType::null;
    value = false;
    at_ += 4;
  } else {
    return fail();
  }
  span.end = at_;
  return true;
}

bool JsonReader::begin_object() {
  if (!expect('{')) return false;
  if (++depth_ > max_depth_) {
    too_deep_ = true;
    return fail();
  }
  first_bits_ |= std::uint64_t{1} << (depth_ % 64);
  return true;
}

bool JsonReader::begin_array() {
  if (!expect('[')) return false;
  if (++depth_ > max_depth_) {
    too_deep_ = true;
    return fail();
  }
  first_bits_ |= std::uint64_t{1} << (depth_ % 64);
  return true;
}

bool JsonReader::next_member(Span& key_raw, bool& key_escaped) {
  skip_whitespace();
  if (failed_ || at_ >= text_.size()) return fail();
  const std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
  const bool first = (first_bits_ & bit) != 0;
  first_bits_ &= ~bit;
  if (text_[at_] == '}') {
    // "{}" closes at once; after a member, '}' ends the object. A ',' must come before it
    // otherwise, which the next branch checks.
    closed_at_ = at_++;
    --depth_;
    return false;
  }
  if (!first && !expect(',')) return false;
  if (!string(key_raw, key_escaped)) return false;
  return expect(':');
}

bool JsonReader::next_element() {
  skip_whitespace();
  if (failed_ || at_ >= text_.size()) return fail();
  const std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
  const bool first = (first_bits_ & bit) != 0;
  first_bits_ &= ~bit;
  if (text_[at_] == ']') {
    closed_at_ = at_++;
    --depth_;
    return false;
  }
  if (!first) return expect(',');
  return true;
}

bool JsonReader::skip(Span& span) {
  JsonType type;
  if (!peek(type)) return false;
  span.begin = at_;
  switch (type) {
    case JsonType::object: {
      if (!begin_object()) return false;
      Span key;
      bool escaped = false;
      while (next_member(key, escaped)) {
        Span member;
        if (!skip(member)) return false;
      }
      break;
    }
    case JsonType::array: {
      if (!begin_array()) return false;
      while (next_element()) {
        Span element;
        if (!skip(element)) return false;
      }
      break;
    }
    case JsonType::string: {
      Span raw;
      bool escaped = false;
      if (!string(raw, escaped)) return false;
      break;
    }
    case JsonType::number: {
      Span n;
      JsonNumber read;
      if (!number(n, read)) return false;
      break;
    }
    case JsonType::boolean:
    case JsonType::null: {
      Span l;
      bool value = false;
      if (!literal(l, type, value)) return false;
      break;
    }
  }
  if (failed_) return false;
  span.end = at_;
  return true;
}

void JsonReader::decode(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  walk_escapes(
      raw, [&](std::uint32_t code) { append_utf8(out, code); }, [&](char c) { out.push_back(c); });
}

std::size_t JsonReader::decoded_size(std::string_view raw) {
  std::size_t n = 0;
  walk_escapes(
      raw, [&](std::uint32_t code) { n += utf8_size(code); }, [&](char) { ++n; });
  return n;
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace fulcrum::api
