#pragma once
// Tokens one answer used, as every part of Fulcrum counts them: read from an upstream by api
// (or a provider translation), priced by metering, learned from by the router. Plain numbers;
// no parsing here.
//
// Providers count differently: OpenAI's prompt_tokens include cached tokens and its
// completion_tokens include reasoning; Anthropic's and Bedrock's input counts exclude cache
// reads and writes. Every reader turns its provider's fields into this one shape, so that
// each token is priced exactly once: `input` is the whole prompt and the cache buckets are
// parts of it, `reasoning` is part of `output`.
#include <cstdint>

namespace fulcrum::core {

struct Usage {
  std::int64_t input = 0;         // prompt tokens, every bucket included
  std::int64_t cached_input = 0;  // of which read from the provider's prompt cache
  std::int64_t cache_write = 0;   // of which written to the provider's prompt cache
  std::int64_t output = 0;        // completion tokens (0 for embeddings), reasoning included
  std::int64_t reasoning = 0;     // of which reasoning the client does not see

  // The prompt tokens billed at the plain input price.
  std::int64_t uncached_input() const {
    const std::int64_t rest = input - cached_input - cache_write;
    return rest > 0 ? rest : 0;
  }
  friend bool operator==(const Usage&, const Usage&) = default;
};

}  // namespace fulcrum::core
