#pragma once
// Serverless prices from a catalog in the format of LiteLLM's
// model_prices_and_context_window.json: a JSON object from model name ("gpt-4o-mini",
// "together_ai/meta-llama/...") to a row with `input_cost_per_token`, `output_cost_per_token`
// and `cache_read_input_token_cost`, in USD per token. Rows priced above a sanity bound are
// rejected: the public catalog has rows off by a factor of a million.
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/expected.hpp"

namespace fulcrum::config {

struct RejectedRow {
  std::string model;
  double usd_per_million = 0;  // its highest per-token price, per million tokens
};

class PriceCatalog {
 public:
  // Reads the file; an unreadable file or invalid JSON is an error, a malformed row is
  // skipped (the catalog also holds image, audio and search prices we do not use).
  static core::Expected<PriceCatalog, std::string> load(const std::string& path,
                                                        double max_usd_per_million);

  std::optional<Price> find(std::string_view model) const;
  const std::vector<RejectedRow>& rejected() const { return rejected_; }
  std::size_t size() const { return prices_.size(); }

 private:
  std::unordered_map<std::string, Price> prices_;
  std::vector<RejectedRow> rejected_;
};

}  // namespace fulcrum::config
