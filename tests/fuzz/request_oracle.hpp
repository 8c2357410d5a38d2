#pragma once
// The reference the request reader is checked against: the same rules over a whole document
// parsed by nlohmann (the implementation the reader replaced), and the upstream body as a DOM
// edit of the input. Slow and allocation-heavy on purpose; tests and fuzzing only.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fulcrum/api/error.hpp"
#include "fulcrum/api/request.hpp"
#include "fulcrum/core/prompt_features.hpp"

namespace fulcrum::testing {

struct OracleRequest {
  std::string model;
  bool stream = false;
  bool client_wants_usage = false;
  core::PromptFeatures features;  // with keyword hits for the keywords given
  // The input with `model` and (for streams) stream_options.include_usage edited, as a DOM
  // that keeps key order.
  nlohmann::ordered_json upstream;
};

// Either the request as the rules read it, or the 400 they give.
struct OracleResult {
  std::optional<OracleRequest> request;
  std::optional<api::ApiError> error;
};

OracleResult oracle_parse(api::Operation op, const std::string& body,
                          const std::string& upstream_model,
                          const std::vector<std::string>& keywords);

}  // namespace fulcrum::testing
