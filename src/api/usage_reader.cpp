#include "fulcrum/api/usage_reader.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>

namespace fulcrum::api {
namespace {

constexpr int kMaxDepth = 4;
constexpr std::size_t kMaxCountDigits = 18;  // below INT64_MAX

// A strict recursive-descent reader over one object. Any doubt ends the read (`ok = false`),
// never a guess: the full parser decides those cases.
class PlainReader {
 public:
  explicit PlainReader(std::string_view text) : text_(text) {}

  // The usage object at the start of the text; what follows it is left unread. Chat
  // Completions name the counts prompt_tokens / completion_tokens / prompt_tokens_details, the
  // Responses API input_tokens / output_tokens / input_tokens_details; an object that mixes
  // the two is left to the full parser.
  std::optional<Usage> usage() {
    Usage out;
    bool saw_input = false;
    bool saw_output = false;
    bool saw_details = false;
    bool saw_output_details = false;
    bool chat_names = false;
    bool responses_names = false;
    object(0, [&](std::string_view key) {
      const CountKey named = count_key(key);
      chat_names = chat_names || named.chat;
      responses_names = responses_names || named.responses;
      switch (named.count) {
        case Count::input:
          take_once(saw_input) && count(out.input);
          break;
        case Count::output:
          take_once(saw_output) && count(out.output);
          break;
        case Count::input_details:
          take_once(saw_details) && details({{"cached_tokens", &out.cached_input},
                                             {"cache_write_tokens", &out.cache_write}});
          break;
        case Count::output_details:
          take_once(saw_output_details) && details({{"reasoning_tokens", &out.reasoning}});
          break;
        case Count::none:
          value(1);
          break;
      }
    });
    if (!ok_ || (chat_names && responses_names)) return std::nullopt;
    out.cached_input = std::min(out.cached_input, out.input);
    out.cache_write = std::min(out.cache_write, out.input - out.cached_input);
    out.reasoning = std::min(out.reasoning, out.output);
    return out;
  }

  // How far the reader got: after a usage, the end of its object.
  std::size_t position() const { return at_; }

  // Whether nothing but whitespace is left.
  bool at_end() {
    skip_space();
    return at_ == text_.size();
  }

 private:
  enum class Count { none, input, output, input_details, output_details };
  struct CountKey {
    Count count = Count::none;
    bool chat = false;
    bool responses = false;
  };
  // Which count a key of the usage object names, in which API's words. By length first: every
  // key of every answer passes here, and most keys then need one string compare, not eight.
  static CountKey count_key(std::string_view key) {
    switch (key.size()) {
      case 12:
        if (key == "input_tokens") return {Count::input, false, true};
        break;
      case 13:
        if (key == "prompt_tokens") return {Count::input, true, false};
        if (key == "output_tokens") return {Count::output, false, true};
        break;
      case 17:
        if (key == "completion_tokens") return {Count::output, true, false};
        break;
      case 20:
        if (key == "input_tokens_details") return {Count::input_details, false, true};
        break;
      case 21:
        if (key == "prompt_tokens_details") return {Count::input_details, true, false};
        if (key == "output_tokens_details") return {Count::output_details, false, true};
        break;
      case 25:
        if (key == "completion_tokens_details") return {Count::output_details, true, false};
        break;
      default:
        break;
    }
    return {};
  }

  bool fail() { return ok_ = false; }
  bool more() const { return ok_ && at_ < text_.size(); }
  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }

  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }

  bool expect(char c) {
    skip_space();
    if (peek() != c) return fail();
    ++at_;
    return true;
  }

  bool take_once(bool& seen) {
    if (seen) return fail();  // a duplicate key: which one wins is the full parser's call
    seen = true;
    return true;
  }

  // Printable ASCII only, no escapes.
  bool string(std::string_view& out) {
    if (!expect('"')) return false;
    const std::size_t start = at_;
    while (at_ < text_.size() && text_[at_] != '"') {
      const auto c = static_cast<unsigned char>(text_[at_]);
      if (c < 0x20 || c > 0x7e || c == '\\') return fail();
      ++at_;
    }
    if (at_ == text_.size()) return fail();
    out = text_.substr(start, at_ - start);
    ++at_;
    return true;
  }

  // A count: null (zero) or a plain non-negative integer.
  bool count(std::int64_t& out) {
    skip_space();
    if (text_.substr(at_, 4) == "null") {
      at_ += 4;
      out = 0;
      return true;
    }
    const std::size_t start = at_;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
    const std::size_t digits = at_ - start;
    if (digits == 0 || digits > kMaxCountDigits || (digits > 1 && text_[start] == '0')) {
      return fail();
    }
    if (at_ < text_.size() && (text_[at_] == '.' || text_[at_] == 'e' || text_[at_] == 'E')) {
      return fail();  // a float count is malformed usage
    }
    std::int64_t value = 0;
    for (std::size_t i = start; i < at_; ++i) value = value * 10 + (text_[i] - '0');
    out = value;
    return true;
  }

  struct DetailCount {
    std::string_view key;
    std::int64_t* into;
  };
  // A *_tokens_details object: the counts named in `wanted`, or anything else (then ignored).
  bool details(std::initializer_list<DetailCount> wanted) {
    skip_space();
    if (peek() != '{') return value(1);
    std::array<bool, 2> seen{};
    return object(1, [&](std::string_view key) {
      std::size_t i = 0;
      for (const DetailCount& d : wanted) {
        if (key == d.key) {
          take_once(seen[i]) && count(*d.into);
          return;
        }
        ++i;
      }
      value(2);
    });
  }

  // `{ "key": <on_key reads the value>, ... }`
  template <class OnKey>
  bool object(int depth, OnKey on_key) {
    if (depth > kMaxDepth || !expect('{')) return fail();
    skip_space();
    if (peek() == '}') {
      ++at_;
      return true;
    }
    while (ok_) {
      std::string_view key;
      if (!string(key) || !expect(':')) return false;
      on_key(key);
      if (!ok_) return false;
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      return expect('}');
    }
    return false;
  }

  bool array(int depth) {
    if (depth > kMaxDepth || !expect('[')) return fail();
    skip_space();
    if (peek() == ']') {
      ++at_;
      return true;
    }
    while (value(depth + 1)) {
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      return expect(']');
    }
    return false;
  }

  bool literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return fail();
    at_ += word.size();
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?, at most 18 digits each side. Exponents and longer numbers
  // are left to the full parser, which rejects those beyond a double's range.
  bool number() {
    const auto digits = [this] {
      const std::size_t start = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
      return at_ - start;
    };
    if (peek() == '-') ++at_;
    const std::size_t first = at_;
    const std::size_t whole = digits();
    if (whole == 0 || whole > kMaxCountDigits || (whole > 1 && text_[first] == '0')) return fail();
    if (peek() == '.') {
      ++at_;
      const std::size_t fraction = digits();
      if (fraction == 0 || fraction > kMaxCountDigits) return fail();
    }
    if (peek() == 'e' || peek() == 'E') return fail();
    return true;
  }

  // Any other value, read only to be skipped.
  bool value(int depth) {
    skip_space();
    switch (peek()) {
      case '{':
        return object(depth, [&](std::string_view) { value(depth + 1); });
      case '[':
        return array(depth);
      case '"': {
        std::string_view ignored;
        return string(ignored);
      }
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  std::string_view text_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

}  // namespace

std::optional<Usage> read_plain_usage(std::string_view object_text) {
  PlainReader reader(object_text);
  auto usage = reader.usage();
  return reader.at_end() ? usage : std::nullopt;
}

std::optional<Usage> read_plain_usage_prefix(std::string_view text, std::size_t* end) {
  PlainReader reader(text);
  auto usage = reader.usage();
  if (usage && end != nullptr) *end = reader.position();
  return usage;
}

}  // namespace fulcrum::api
