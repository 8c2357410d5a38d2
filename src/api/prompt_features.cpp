#include "fulcrum/api/prompt_features.hpp"

#include <algorithm>
#include <cctype>

#include "json_reader.hpp"

namespace fulcrum::api {

core::PromptFeatures prompt_features(const ParsedRequest& request,
                                     const std::vector<std::string>& keywords) {
  core::PromptFeatures features = request.features;
  if (keywords.empty()) return features;
  // Each keyword counts once, found anywhere in the prompt's text, case-insensitively: one
  // lower-casing pass per text, then a plain (memchr-driven) search per keyword.
  std::vector<bool> found(keywords.size(), false);
  std::string decoded;
  std::string lowered;
  for (const BodySpan& span : request.texts) {
    std::string_view text(request.body.data() + span.begin, span.end - span.begin);
    if (request.texts_escaped) {
      JsonReader::decode(text, decoded);
      text = decoded;
    }
    lowered.resize(text.size());
    std::transform(text.begin(), text.end(), lowered.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    for (std::size_t k = 0; k < keywords.size(); ++k) {
      if (!found[k] && lowered.find(keywords[k]) != std::string::npos) found[k] = true;
    }
  }
  features.keyword_hits = static_cast<unsigned>(std::count(found.begin(), found.end(), true));
  return features;
}

}  // namespace fulcrum::api
