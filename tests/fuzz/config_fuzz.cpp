// Fuzz target: the YAML config loader, which must answer every file with a config or a list
// of problems, never a crash. Environment lookups answer a fixed key.
#include <cstdint>
#include <string_view>

#include "fulcrum/config/loader.hpp"

using namespace fulcrum;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const config::EnvLookup env = [](const char*) -> const char* {
    return "fuzz-key-0123456789abcdef";
  };
  auto loaded = config::load_string(yaml, "fuzz.yaml", env);
  if (!loaded) {
    for (const auto& issue : loaded.error()) (void)issue.to_string();
  }
  return 0;
}
