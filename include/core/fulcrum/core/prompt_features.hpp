#pragma once
// What is known about a request's prompt before it is sent: sizes and the signals the
// complexity classifier scores. The api module reads them from a request body; the router
// decides on them and never sees JSON.
#include <cstdint>
#include <optional>

namespace fulcrum::core {

struct PromptFeatures {
  std::uint64_t estimated_tokens = 0;       // ~4 characters per token, plus per-message overhead
  unsigned code_blocks = 0;                 // fenced ``` blocks
  unsigned keyword_hits = 0;                // classifier keywords found (each counted once)
  bool tools = false;                       // tools or functions offered
  bool response_format = false;             // structured output requested
  unsigned turns = 0;                       // messages (1 for a plain prompt)
  std::optional<std::uint64_t> max_tokens;  // per choice
  std::uint64_t choices = 1;                // n: each choice generates its own output
  bool stream = false;
};

}  // namespace fulcrum::core
