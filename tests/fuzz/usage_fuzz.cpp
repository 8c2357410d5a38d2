// Fuzz target: the usage extractor on whatever JSON (or not) an upstream sends.
#include <cstdint>
#include <string_view>

#include "fulcrum/api/usage.hpp"

using namespace fulcrum;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto usage = api::usage_in_document(text)) {
    (void)usage->uncached_input();
  }
  (void)api::may_carry_usage(text);
  (void)api::generated_chars(text);
  return 0;
}
