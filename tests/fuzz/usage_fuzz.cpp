// Fuzz target: the usage extractor on whatever JSON (or not) an upstream sends; and the
// allocation-free reader (on a whole text, and on the object that starts one) against the
// full parser, which must agree whenever the reader answers.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "fulcrum/api/usage.hpp"
#include "fulcrum/api/usage_reader.hpp"

using namespace fulcrum;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto usage = api::usage_in_document(text)) {
    (void)usage->uncached_input();
  }
  if (auto plain = api::read_plain_usage(text)) {
    const auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    const auto full = api::usage_from(parsed);
    if (!full || !(*full == *plain)) std::abort();
  }
  // The reader as usage_in_document calls it, on the object at the start of the text: what it
  // consumed must be one object the full parser reads the same, and it must agree with the
  // whole-text reader whenever that one answers.
  std::size_t end = 0;
  if (auto prefix = api::read_plain_usage_prefix(text, &end)) {
    const auto parsed =
        nlohmann::json::parse(text.substr(0, end), nullptr, /*allow_exceptions=*/false);
    const auto full = api::usage_from(parsed);
    if (!full || !(*full == *prefix)) std::abort();
    if (auto whole = api::read_plain_usage(text); whole && !(*whole == *prefix)) std::abort();
  }
  (void)api::may_carry_usage(text);
  (void)api::generated_chars(text);
  return 0;
}
