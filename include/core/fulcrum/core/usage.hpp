#pragma once
// Tokens one answer used, as every part of Fulcrum counts them: read from an upstream by api,
// priced by metering, learned from by the router. Plain numbers; no parsing here.
#include <cstdint>

namespace fulcrum::core {

struct Usage {
  std::int64_t input = 0;         // prompt tokens, cached ones included
  std::int64_t cached_input = 0;  // of which read from the provider's prompt cache
  std::int64_t output = 0;        // completion tokens (0 for embeddings)

  std::int64_t uncached_input() const { return input > cached_input ? input - cached_input : 0; }
  friend bool operator==(const Usage&, const Usage&) = default;
};

}  // namespace fulcrum::core
