#include "fulcrum/config/price_catalog.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fulcrum::config {
namespace {

constexpr double kPerMillion = 1e6;
// LiteLLM's catalog is about 1.4 MB; anything far larger is not a price catalog.
constexpr std::uintmax_t kMaxCatalogBytes = 64u << 20;

std::optional<double> per_token(const nlohmann::json& row, const char* field) {
  const auto it = row.find(field);
  if (it == row.end() || !it->is_number()) return std::nullopt;
  const double value = it->get<double>();
  if (!(value >= 0)) return std::nullopt;
  return value;
}

}  // namespace

core::Expected<PriceCatalog, std::string> PriceCatalog::load(const std::string& path,
                                                             double max_usd_per_million) {
  // A regular file of sane size: not a device, a FIFO or a directory a typo named.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) ||
      std::filesystem::file_size(path, ec) > kMaxCatalogBytes || ec) {
    return core::Unexpected{"the price catalog " + path +
                            " is not a readable file of at most 64 MiB"};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Unexpected{"cannot read the price catalog " + path};
  const nlohmann::json document = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) {
    return core::Unexpected{"the price catalog " + path + " is not a JSON object"};
  }
  PriceCatalog catalog;
  for (const auto& [model, row] : document.items()) {
    if (!row.is_object()) continue;
    const auto input = per_token(row, "input_cost_per_token");
    if (!input) continue;  // not a per-token model (images, audio, search...)
    const double output = per_token(row, "output_cost_per_token").value_or(0);
    const double cached = per_token(row, "cache_read_input_token_cost").value_or(*input);
    const double written = per_token(row, "cache_creation_input_token_cost").value_or(*input);
    const double highest = std::max({*input, output, cached, written}) * kPerMillion;
    if (highest > max_usd_per_million) {
      catalog.rejected_.push_back({model, highest});
      continue;
    }
    const auto in_price = core::PricePerMillion::from_usd(*input * kPerMillion);
    const auto out_price = core::PricePerMillion::from_usd(output * kPerMillion);
    const auto cached_price = core::PricePerMillion::from_usd(cached * kPerMillion);
    const auto written_price = core::PricePerMillion::from_usd(written * kPerMillion);
    if (!in_price || !out_price || !cached_price || !written_price) continue;
    catalog.prices_.emplace(model, Price{*in_price, *cached_price, *out_price, *written_price});
  }
  std::sort(catalog.rejected_.begin(), catalog.rejected_.end(),
            [](const RejectedRow& a, const RejectedRow& b) { return a.model < b.model; });
  return catalog;
}

std::optional<Price> PriceCatalog::find(std::string_view model) const {
  const auto it = prices_.find(std::string(model));
  if (it == prices_.end()) return std::nullopt;
  return it->second;
}

}  // namespace fulcrum::config
