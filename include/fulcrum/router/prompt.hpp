#pragma once
// What the router knows about a request's prompt: sizes and the signals the complexity
// classifier scores. The api module extracts them from the JSON body; the router never
// sees JSON.
#include <cstdint>
#include <optional>

#include "fulcrum/config/policy.hpp"

namespace fulcrum::router {

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

double complexity_score(const PromptFeatures& prompt, const config::Classifier& classifier);
// The index of the highest tier whose lower bound `score` reaches.
std::size_t tier_of(double score, const config::Classifier& classifier);

}  // namespace fulcrum::router
