#include "message_plan.hpp"

#include <algorithm>

namespace fulcrum::sim {

std::string trimmed_word(unsigned i) {
  std::string_view word = output_word(i);
  while (!word.empty() && word.back() == ' ') word.remove_suffix(1);
  return std::string(word);
}

std::string output_text(unsigned words) {
  std::string text;
  for (unsigned i = 0; i < words; ++i) text += output_word(i);
  return text;
}

std::vector<std::string> input_pieces(const nlohmann::json& input) {
  const std::string text = input.dump();
  const std::size_t half = text.size() / 2;
  return {text.substr(0, half), text.substr(half)};
}

std::vector<std::string> tools_to_call(const std::vector<std::string>& offered,
                                       const std::optional<std::string>& forced, bool parallel) {
  if (forced) return {*forced};
  const std::size_t calls = std::min<std::size_t>(offered.size(), parallel ? 2 : 1);
  return {offered.begin(), offered.begin() + static_cast<std::ptrdiff_t>(calls)};
}

MessagePlan plan_message(const PlanAsk& ask, const Generation& g, unsigned cache_read,
                         unsigned cache_write) {
  MessagePlan plan;
  plan.cache_read = std::min(cache_read, g.prompt_tokens);
  plan.cache_write = std::min(cache_write, g.prompt_tokens - plan.cache_read);
  plan.words = g.completion_tokens;
  if (ask.max_tokens && *ask.max_tokens < plan.words) {
    plan.words = *ask.max_tokens;
    plan.stop_reason = "max_tokens";
    return plan;
  }
  for (unsigned i = 0; i < plan.words; ++i) {
    const std::string word = trimmed_word(i);
    const auto& stops = ask.stop_sequences;
    if (std::find(stops.begin(), stops.end(), word) != stops.end()) {
      plan.words = i;
      plan.stop_reason = "stop_sequence";
      plan.stop_sequence = word;
      return plan;
    }
  }
  if (ask.tools_called.empty()) return plan;
  for (std::size_t k = 0; k < ask.tools_called.size(); ++k) {
    plan.tool_calls.push_back(
        {ask.tool_id_prefix + std::to_string(g.serial) + "_" + std::to_string(k),
         ask.tools_called[k],
         {{"query", trimmed_word(static_cast<unsigned>(k))}, {"limit", k + 1}}});
  }
  plan.stop_reason = "tool_use";
  return plan;
}

}  // namespace fulcrum::sim
