// Where the actual cost went: a provisioned endpoint costs hourly_usd every hour, used or not,
// so an alias's actual includes its share of the idle hours of the units it used, and the
// alias views add up to the report's total.
#include <numeric>

#include "breakeven_parts.hpp"

namespace fulcrum::metering {

std::vector<std::vector<double>> apportion(const config::Config& config,
                                           const std::vector<UnitUse>& units, double hours,
                                           Attribution& attribution) {
  std::vector<std::vector<double>> shares(config.endpoints.size());
  for (std::size_t e = 0; e < config.endpoints.size(); ++e) {
    const config::Endpoint& endpoint = config.endpoints[e];
    if (endpoint.kind != config::EndpointKind::provisioned) continue;
    const UnitUse& use = units[e];
    const double whole = endpoint.hourly_usd * hours;
    // The capacity each slot used, or, when no request was charged any, each slot's requests.
    std::vector<double> weight(use.amortized_usd);
    if (std::accumulate(weight.begin(), weight.end(), 0.0) <= 0) {
      weight.assign(use.requests.begin(), use.requests.end());
    }
    const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
    shares[e].assign(weight.size(), 0.0);
    if (total <= 0) {
      attribution.idle_not_attributed_usd += whole;
      attribution.idle_endpoints.emplace_back(endpoint.name, whole);
      continue;
    }
    for (std::size_t slot = 0; slot < weight.size(); ++slot) {
      shares[e][slot] = whole * weight[slot] / total;
    }
    attribution.unknown_aliases_usd += shares[e].back();
  }
  return shares;
}

}  // namespace fulcrum::metering
