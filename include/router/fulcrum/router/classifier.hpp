#pragma once
// The complexity classifier: a score from a prompt's features, and the tier it falls in.
#include "fulcrum/config/policy.hpp"
#include "fulcrum/core/prompt_features.hpp"

namespace fulcrum::router {

using core::PromptFeatures;

double complexity_score(const PromptFeatures& prompt, const config::Classifier& classifier);
// The index of the highest tier whose lower bound `score` reaches.
std::size_t tier_of(double score, const config::Classifier& classifier);

}  // namespace fulcrum::router
