#pragma once
// What the simulated model does with a messages-style request (Anthropic's Messages API,
// Bedrock's Converse): how many words it writes, why it stops, which tools it calls and how
// much of the prompt the cache covers. Each wire reads its own fields into a PlanAsk; the
// rules are the same on both, so tests predict one behaviour.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sim_responses.hpp"

namespace fulcrum::sim {

// Output tokens each tool call adds to the words generated before it.
inline constexpr unsigned kToolCallTokens = 8;

struct MessagePlan {
  unsigned words = 0;  // text words generated
  std::string stop_reason = "end_turn";
  std::string stop_sequence;  // with stop_reason stop_sequence
  struct ToolCall {
    std::string id;
    std::string name;
    nlohmann::json input;
  };
  std::vector<ToolCall> tool_calls;
  unsigned cache_read = 0;
  unsigned cache_write = 0;

  unsigned output_tokens() const {
    return words + kToolCallTokens * static_cast<unsigned>(tool_calls.size());
  }
};

// A request's limits and tools, as its wire spells them.
struct PlanAsk {
  std::optional<unsigned> max_tokens;       // none: nothing cuts the words
  std::vector<std::string> stop_sequences;  // a word equal to one of them stops generation
  std::vector<std::string> tools_called;    // in order; empty: no tool use
  std::string tool_id_prefix;               // "toolu_sim_" (Anthropic), "tooluse_sim_" (Bedrock)
};

// The tools the model calls: the forced one when a tool is forced, else the first two
// offered (the first only when parallel calls are disabled).
std::vector<std::string> tools_to_call(const std::vector<std::string>& offered,
                                       const std::optional<std::string>& forced, bool parallel);

// `g.completion_tokens` words unless max_tokens or a stop sequence cuts them (then no tool
// calls); otherwise the asked tool calls, each with input {"query": <word k>, "limit": k + 1}.
// The cache covers at most the prompt: reads first, writes from what is left.
MessagePlan plan_message(const PlanAsk& ask, const Generation& g, unsigned cache_read,
                         unsigned cache_write);

// A tool call's input as JSON text in two pieces, as Anthropic and Bedrock stream it.
std::vector<std::string> input_pieces(const nlohmann::json& input);

// The i-th output word without its trailing space.
std::string trimmed_word(unsigned i);
// The first `words` output words, as one text.
std::string output_text(unsigned words);

}  // namespace fulcrum::sim
