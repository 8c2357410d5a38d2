#include "fulcrum/router/classifier.hpp"

namespace fulcrum::router {

double complexity_score(const PromptFeatures& prompt, const config::Classifier& classifier) {
  const config::Classifier::Weights& w = classifier.weights;
  const unsigned extra_turns = prompt.turns > 1 ? prompt.turns - 1 : 0;
  return w.per_1k_tokens * static_cast<double>(prompt.estimated_tokens) / 1000.0 +
         w.code_block * prompt.code_blocks + w.keyword * prompt.keyword_hits +
         (prompt.tools ? w.tools : 0) + (prompt.response_format ? w.response_format : 0) +
         w.turn * extra_turns;
}

std::size_t tier_of(double score, const config::Classifier& classifier) {
  std::size_t tier = 0;
  for (std::size_t i = 0; i < classifier.tiers.size(); ++i) {
    if (score >= classifier.tiers[i].min_score) tier = i;
  }
  return tier;
}

}  // namespace fulcrum::router
