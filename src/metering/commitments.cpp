// A commitment against on demand. A term bills every hour of the period, used or not; on
// demand is billed as the report's actual has it (every hour of the period, the endpoint being
// deployed), and also as if it were switched off in each hour no request started on it, the
// best on demand could do. The curve of the endpoint's unit view, repriced at each term, says
// how many units the cheaper hour would make worth keeping.
#include <algorithm>

#include "breakeven_parts.hpp"

namespace fulcrum::metering {
namespace {

// The curve's optimum with every unit at `hourly_usd`: what it spills does not change.
std::pair<unsigned, double> optimum_at(const Analysis& sized, double hourly_usd, double hours) {
  std::pair<unsigned, double> best{0, 0};
  bool first = true;
  for (const CurvePoint& p : sized.curve) {
    const double usd = p.units * hourly_usd * hours + p.spilled_usd;
    if (first || usd < best.second - 1e-9) best = {p.units, usd};
    first = false;
  }
  return best;
}

}  // namespace

CommitmentView commitment_view(const config::Endpoint& endpoint, const UnitUse& use, double hours,
                               const Analysis* sized) {
  CommitmentView view;
  view.endpoint = endpoint.name;
  view.on_demand_hourly_usd = endpoint.hourly_usd;
  view.on_demand_usd = endpoint.hourly_usd * hours;
  for (std::size_t h = 0; h < use.busy.size(); ++h) {
    // The last hour of a period that does not end on the hour counts for its part.
    if (use.busy[h]) view.busy_hours += std::clamp(hours - static_cast<double>(h), 0.0, 1.0);
  }
  view.switched_off_usd = endpoint.hourly_usd * view.busy_hours;
  if (sized != nullptr) {
    view.on_demand_optimum_units = sized->optimum_units;
    view.on_demand_optimum_usd = sized->curve[*sized->optimum_units].usd;
  }
  for (const config::Commitment& commitment : endpoint.commitments) {
    CommitmentTerm term;
    term.name = commitment.name;
    term.hourly_usd = commitment.hourly_usd;
    term.usd = commitment.hourly_usd * hours;
    term.saving_vs_on_demand_usd = view.on_demand_usd - term.usd;
    term.saving_vs_switched_off_usd = view.switched_off_usd - term.usd;
    // Cheaper once on demand would be on more than this share of the hours (above 1: never).
    if (endpoint.hourly_usd > 0) {
      term.breakeven_fraction_of_hours = commitment.hourly_usd / endpoint.hourly_usd;
      term.breakeven_hours_per_day = 24 * *term.breakeven_fraction_of_hours;
    }
    if (sized != nullptr) {
      const auto [units, usd] = optimum_at(*sized, commitment.hourly_usd, hours);
      term.optimum_units = units;
      term.optimum_usd = usd;
    }
    view.terms.push_back(std::move(term));
  }
  return view;
}

}  // namespace fulcrum::metering
