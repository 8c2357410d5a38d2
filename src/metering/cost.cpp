#include "fulcrum/metering/cost.hpp"

namespace fulcrum::metering {

core::Money marginal_cost(const config::Price& price, const core::Usage& usage) {
  return price.input.cost_of(usage.uncached_input()) +
         price.cached_input.cost_of(usage.cached_input) + price.output.cost_of(usage.output);
}

}  // namespace fulcrum::metering
