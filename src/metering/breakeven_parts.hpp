#pragma once
// The breakeven report's parts beside the capacity curve: where the actual cost went by alias,
// and each provisioned endpoint's commitments against its on-demand price.
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/metering/breakeven.hpp"

namespace fulcrum::metering {

// Each provisioned endpoint's whole cost over `hours` (hourly_usd x hours, idle hours
// included), apportioned to the alias slots that used it by the amortized cost of their
// requests on it (by their request count where that is 0 for all, as on an endpoint that
// states no capacity). Returns shares[endpoint][slot] (empty for serverless endpoints); the
// cost of an endpoint no request used goes to `attribution` as idle, not attributed, and the
// slot of aliases no longer configured to attribution.unknown_aliases_usd.
std::vector<std::vector<double>> apportion(const config::Config& config,
                                           const std::vector<UnitUse>& units, double hours,
                                           Attribution& attribution);

// On demand against each of `endpoint`'s commitments over `hours`; `sized` is the endpoint's
// unit view when it has a breakeven curve, to price the curve at each term.
CommitmentView commitment_view(const config::Endpoint& endpoint, const UnitUse& use, double hours,
                               const Analysis* sized);

}  // namespace fulcrum::metering
