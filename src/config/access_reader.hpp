#pragma once
// Readers for who may use the gateway and what it records: the ledger, auth mode, API keys
// and budgets.
#include "fulcrum/config/config.hpp"
#include "fulcrum/config/loader.hpp"
#include "yaml_reader.hpp"

namespace fulcrum::config {

void read_ledger(const YAML::Node& node, Diagnostics& diag, const EnvLookup& env, Config& config);
void read_auth(const YAML::Node& node, Diagnostics& diag, Config& config);
// Needs the aliases and SLO classes.
void read_keys(const YAML::Node& node, Diagnostics& diag, Config& config);
// Needs the keys and aliases.
void read_budgets(const YAML::Node& node, Diagnostics& diag, Config& config);

}  // namespace fulcrum::config
