#pragma once
// Readers for the routing policy: SLO classes, the classifier, routes. Each reports through
// Diagnostics and fills the Config passed in.
#include "fulcrum/config/config.hpp"
#include "yaml_reader.hpp"

namespace fulcrum::config {

// Fills config.slo_classes (the built-in realtime/standard/batch when `node` is undefined).
void read_slo_classes(const YAML::Node& node, Diagnostics& diag, Config& config);
// Fills config.classifier (built-in keywords, weights and tiers when `node` is undefined).
void read_classifiers(const YAML::Node& node, Diagnostics& diag, Config& config);
// Fills config.routes and config.route_headers; needs the classes, classifier and aliases.
void read_routes(const YAML::Node& node, Diagnostics& diag, Config& config);
// Fills config.retry_budget (the defaults when `node` is undefined).
void read_retry_budget(const YAML::Node& node, Diagnostics& diag, Config& config);

// A class name to its index, reporting unknown names at `node`.
std::optional<std::size_t> slo_class_at(const YAML::Node& node, Diagnostics& diag,
                                        const Config& config);
// A duration that must be above zero.
std::optional<core::Duration> read_positive_duration(const YAML::Node& node, Diagnostics& diag,
                                                     std::string_view what);
// `timeouts: {connect, first_byte, idle, total}`, each above zero; absent keys stay unset.
void read_timeout_overrides(const YAML::Node& node, Diagnostics& diag, TimeoutOverrides& out);
// A list, or a single scalar standing for a list of one.
std::vector<YAML::Node> list_of(const YAML::Node& node);

}  // namespace fulcrum::config
