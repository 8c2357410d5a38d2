#pragma once
// Readers for the economics settings: the price catalog (top-level `pricing`), the what-if
// units of `fulcrum report` (`reports`) and a provisioned endpoint's committed prices
// (`endpoints.*.commitments`).
#include <optional>

#include "fulcrum/config/config.hpp"
#include "fulcrum/config/price_catalog.hpp"
#include "yaml_reader.hpp"

namespace fulcrum::config {

// Loads the catalog `pricing.catalog` names (relative to the config file); its rejected rows
// become config warnings. nullopt when there is no catalog (or it failed, which is reported).
std::optional<PriceCatalog> read_price_catalog(const YAML::Node& node, Diagnostics& diag,
                                               Config& config);
// Needs the aliases.
void read_reports(const YAML::Node& node, Diagnostics& diag, Config& config);
// A mapping of commitment names to {hourly_usd}; names are checked like endpoint names.
void read_commitments(const YAML::Node& node, Diagnostics& diag, Endpoint& endpoint);

}  // namespace fulcrum::config
