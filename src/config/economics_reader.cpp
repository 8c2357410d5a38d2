#include "economics_reader.hpp"

#include <algorithm>
#include <filesystem>

namespace fulcrum::config {
namespace {

// Commitment names become JSON values and table labels: kept as plain as endpoint names.
bool is_commitment_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

}  // namespace

std::optional<PriceCatalog> read_price_catalog(const YAML::Node& node, Diagnostics& diag,
                                               Config& config) {
  if (!node.IsDefined()) return std::nullopt;
  MapReader map(node, diag, "pricing");
  if (!map.valid()) return std::nullopt;
  PricingConfig& pricing = config.pricing;
  if (const YAML::Node bound = map.optional("max_usd_per_1m_tokens"); bound.IsDefined()) {
    pricing.max_usd_per_1m_tokens =
        read_number(bound, diag, "max_usd_per_1m_tokens").value_or(pricing.max_usd_per_1m_tokens);
  }
  const YAML::Node path = map.required("catalog");
  if (!path.IsDefined()) return std::nullopt;
  const auto text = read_string(path, diag, "pricing.catalog");
  if (!text) return std::nullopt;
  // Relative to the config file, so a config and its catalog move together.
  std::filesystem::path file(*text);
  if (file.is_relative()) file = std::filesystem::path(diag.file()).parent_path() / file;
  pricing.catalog = file.string();
  auto catalog = PriceCatalog::load(pricing.catalog, pricing.max_usd_per_1m_tokens);
  if (!catalog) {
    diag.error(path, catalog.error());
    return std::nullopt;
  }
  for (const RejectedRow& row : catalog->rejected()) {
    config.warnings.push_back("price catalog row '" + row.model +
                              "' rejected: " + std::to_string(row.usd_per_million) +
                              " USD per 1M tokens is above max_usd_per_1m_tokens (" +
                              std::to_string(pricing.max_usd_per_1m_tokens) + ")");
  }
  return std::move(*catalog);
}

void read_reports(const YAML::Node& node, Diagnostics& diag, Config& config) {
  if (!node.IsDefined()) return;
  MapReader map(node, diag, "reports");
  if (!map.valid()) return;
  const YAML::Node candidates = map.optional("candidates");
  if (!candidates.IsDefined()) return;
  if (!candidates.IsSequence()) {
    diag.error(candidates,
               "reports.candidates must be a list of {name, hourly_usd, output_tokens_per_second}");
    return;
  }
  for (const YAML::Node& entry : candidates) {
    MapReader unit_map(entry, diag, "a report candidate");
    if (!unit_map.valid()) continue;
    WhatIfUnit unit;
    if (const YAML::Node name = unit_map.required("name"); name.IsDefined()) {
      unit.name = read_string(name, diag, "name").value_or("");
    }
    if (const YAML::Node hourly = unit_map.required("hourly_usd"); hourly.IsDefined()) {
      unit.hourly_usd = read_number(hourly, diag, "hourly_usd").value_or(0);
    }
    const YAML::Node rate = unit_map.required("output_tokens_per_second");
    if (rate.IsDefined()) {
      unit.output_tokens_per_second =
          read_number(rate, diag, "output_tokens_per_second").value_or(0);
      if (unit.output_tokens_per_second <= 0) {
        diag.error(rate, "output_tokens_per_second must be above 0");
      }
    }
    if (const YAML::Node weight = unit_map.optional("input_token_weight"); weight.IsDefined()) {
      unit.input_token_weight =
          read_number(weight, diag, "input_token_weight").value_or(unit.input_token_weight);
    }
    if (const YAML::Node aliases = unit_map.optional("aliases"); aliases.IsDefined()) {
      for (const YAML::Node& alias_node : aliases) {
        const auto name = read_string(alias_node, diag, "a model alias");
        if (!name) continue;
        if (const ModelAlias* alias = config.find_alias(*name)) {
          unit.aliases.push_back(static_cast<std::size_t>(alias - config.models.data()));
        } else {
          diag.error(alias_node, "report candidate names unknown model alias '" + *name + "'");
        }
      }
    }
    config.what_if.push_back(std::move(unit));
  }
}

void read_commitments(const YAML::Node& node, Diagnostics& diag, Endpoint& endpoint) {
  // The reader reports a name written twice; claiming each name below keeps it from calling
  // the names unknown keys.
  MapReader terms(node, diag, "commitments of '" + endpoint.name + "'");
  if (!terms.valid()) return;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) continue;
    const std::string& name = entry.first.Scalar();
    if (!is_commitment_name(name)) {
      diag.error(entry.first, "commitment name '" + name + "' must match [a-z0-9_-]+");
    }
    const YAML::Node term = terms.optional(name);
    if (!term.IsDefined()) continue;
    MapReader term_map(term, diag, "commitment '" + name + "'");
    if (!term_map.valid()) continue;
    const YAML::Node hourly = term_map.required("hourly_usd");
    if (!hourly.IsDefined()) continue;
    const auto usd = read_number(hourly, diag, "hourly_usd");
    if (!usd) continue;
    if (*usd <= 0) {
      diag.error(hourly, "hourly_usd of commitment '" + name + "' must be above 0");
      continue;
    }
    const bool seen = std::any_of(endpoint.commitments.begin(), endpoint.commitments.end(),
                                  [&](const Commitment& c) { return c.name == name; });
    if (!seen) endpoint.commitments.push_back(Commitment{name, *usd});
  }
}

}  // namespace fulcrum::config
