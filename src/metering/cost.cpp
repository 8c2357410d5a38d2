#include "fulcrum/metering/cost.hpp"

namespace fulcrum::metering {

core::Money marginal_cost(const config::Price& price, const core::Usage& usage) {
  // Each prompt token in exactly one bucket: a cache write is not also plain input.
  return price.input.cost_of(usage.uncached_input()) +
         price.cached_input.cost_of(usage.cached_input) +
         price.cache_write_input.cost_of(usage.cache_write) + price.output.cost_of(usage.output);
}

}  // namespace fulcrum::metering
