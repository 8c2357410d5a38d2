#include "fulcrum/api/usage.hpp"

#include <cstring>
#include <nlohmann/json.hpp>

#include "fulcrum/api/usage_reader.hpp"

namespace fulcrum::api {
namespace {

std::optional<std::int64_t> count_at(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::int64_t{0};
  if (!it->is_number_integer() && !it->is_number_unsigned()) return std::nullopt;
  const auto value = it->get<std::int64_t>();
  if (value < 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<Usage> usage_from(const nlohmann::json& usage) {
  if (!usage.is_object()) return std::nullopt;
  // Chat Completions' names, or the Responses API's when none of those is there.
  const bool chat = usage.contains("prompt_tokens") || usage.contains("completion_tokens") ||
                    usage.contains("prompt_tokens_details") ||
                    usage.contains("completion_tokens_details");
  const bool responses = usage.contains("input_tokens") || usage.contains("output_tokens") ||
                         usage.contains("input_tokens_details") ||
                         usage.contains("output_tokens_details");
  if (chat && responses) return std::nullopt;  // which counts are meant cannot be told
  Usage out;
  const auto input = count_at(usage, responses ? "input_tokens" : "prompt_tokens");
  const auto output = count_at(usage, responses ? "output_tokens" : "completion_tokens");
  if (!input || !output) return std::nullopt;
  out.input = *input;
  out.output = *output;
  const auto details = usage.find(responses ? "input_tokens_details" : "prompt_tokens_details");
  if (details != usage.end() && details->is_object()) {
    const auto cached = count_at(*details, "cached_tokens");
    // Azure's Responses usage adds the tokens written to the cache.
    const auto written = count_at(*details, "cache_write_tokens");
    if (!cached || !written) return std::nullopt;
    out.cached_input = std::min(*cached, out.input);
    out.cache_write = std::min(*written, out.input - out.cached_input);
  }
  const auto output_details =
      usage.find(responses ? "output_tokens_details" : "completion_tokens_details");
  if (output_details != usage.end() && output_details->is_object()) {
    const auto reasoning = count_at(*output_details, "reasoning_tokens");
    if (!reasoning) return std::nullopt;
    out.reasoning = std::min(*reasoning, out.output);
  }
  return out;
}

namespace {

// The last `"usage"` in the text. A backward search from quote to quote: rfind compares the
// key at every offset of a ~1 KB answer (1.4% of a worker's CPU).
std::size_t last_usage_key(std::string_view text) {
  constexpr std::string_view kKey = "\"usage\"";
  std::size_t end = text.size();
  while (end >= kKey.size()) {
    const void* quote = memrchr(text.data(), '"', end);
    if (quote == nullptr) break;
    const auto closing = static_cast<std::size_t>(static_cast<const char*>(quote) - text.data());
    if (closing + 1 >= kKey.size() && text.substr(closing + 1 - kKey.size(), kKey.size()) == kKey) {
      return closing + 1 - kKey.size();
    }
    end = closing;
  }
  return std::string_view::npos;
}

// Where the value of the last `"usage"` key starts when it is an object: a response's usage
// sits at its end, and reading just that object spares a full parse of large responses
// (embeddings). nullopt when the shortcut does not apply and the whole document is parsed.
std::optional<std::size_t> trailing_usage_start(std::string_view json_text) {
  const auto key = last_usage_key(json_text);
  // A quote escaped inside some string value is not a key.
  if (key == std::string_view::npos || key == 0 || json_text[key - 1] == '\\') return std::nullopt;
  std::size_t i = key + 7;
  while (i < json_text.size() &&
         (json_text[i] == ' ' || json_text[i] == ':' || json_text[i] == '\n' ||
          json_text[i] == '\r' || json_text[i] == '\t')) {
    ++i;
  }
  if (i >= json_text.size() || json_text[i] != '{') return std::nullopt;
  return i;
}

// The object that starts `text`, up to its closing brace, or nullopt when it does not close.
std::optional<std::string_view> balanced_object(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t j = 0; j < text.size(); ++j) {
    const char c = text[j];
    if (in_string) {
      if (c == '\\')
        ++j;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{') ++depth;
    if (c == '}' && --depth == 0) return text.substr(0, j + 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<Usage> usage_in_document(std::string_view json_text) {
  if (const auto start = trailing_usage_start(json_text)) {
    const std::string_view from = json_text.substr(*start);
    if (auto plain = read_plain_usage_prefix(from)) return plain;
    if (const auto object = balanced_object(from)) {
      const auto usage = nlohmann::json::parse(*object, nullptr, /*allow_exceptions=*/false);
      if (auto parsed = usage_from(usage)) return parsed;
    }
  }
  const auto document = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) return std::nullopt;
  const auto usage = document.find("usage");
  if (usage == document.end()) return std::nullopt;
  return usage_from(*usage);
}

bool may_carry_usage(std::string_view json_text) {
  constexpr std::string_view kKey = "\"usage\"";
  for (auto at = json_text.find(kKey); at != std::string_view::npos;
       at = json_text.find(kKey, at + 1)) {
    std::size_t i = at + kKey.size();
    while (i < json_text.size() &&
           (json_text[i] == ' ' || json_text[i] == ':' || json_text[i] == '\t' ||
            json_text[i] == '\n' || json_text[i] == '\r')) {
      ++i;
    }
    if (i < json_text.size() && json_text[i] == '{') return true;
  }
  return false;
}

}  // namespace fulcrum::api

namespace fulcrum::api {

std::size_t generated_chars(std::string_view text) {
  std::size_t total = 0;
  // "delta" holds text in the Responses API's delta events (in Chat chunks it is an object, which
  // the check for a string below skips).
  for (std::string_view key : {std::string_view("\"content\""), std::string_view("\"text\""),
                               std::string_view("\"delta\"")}) {
    for (std::size_t at = text.find(key); at != std::string_view::npos;
         at = text.find(key, at + key.size())) {
      std::size_t i = at + key.size();
      while (i < text.size() && (text[i] == ' ' || text[i] == ':')) ++i;
      if (i >= text.size() || text[i] != '"') continue;
      const std::size_t start = ++i;
      while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
      total += std::min(i, text.size()) - start;
    }
  }
  return total;
}

Usage estimate_usage(std::uint64_t prompt_tokens, std::size_t generated_characters) {
  Usage usage;
  usage.input = static_cast<std::int64_t>(prompt_tokens);
  usage.output = static_cast<std::int64_t>((generated_characters + 3) / 4);
  return usage;
}

}  // namespace fulcrum::api
