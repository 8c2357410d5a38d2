#pragma once
// Reads the routing signals of a request body: prompt size, code blocks, classifier keywords,
// tools, structured output, turns, max_tokens.
#include <string>
#include <vector>

#include "fulcrum/api/request.hpp"
#include "fulcrum/core/prompt_features.hpp"

namespace fulcrum::api {

// `keywords` are lower case; each found anywhere in the prompt (case-insensitively) counts once.
core::PromptFeatures prompt_features(const ParsedRequest& request,
                                     const std::vector<std::string>& keywords);

}  // namespace fulcrum::api
