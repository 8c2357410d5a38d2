#include "class_tally.hpp"

#include <algorithm>
#include <cmath>

namespace fulcrum::replay {
namespace {

double seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

// Nearest rank: the smallest value with at least `q` of the values at or below it.
double percentile(std::vector<double> sorted_copy, double q) {
  std::sort(sorted_copy.begin(), sorted_copy.end());
  const auto rank =
      static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted_copy.size())));
  return sorted_copy[std::clamp<std::size_t>(rank, 1, sorted_copy.size()) - 1];
}

}  // namespace

double ClassOutcome::attainment_percent() const {
  return judged == 0 ? 100 : 100.0 * static_cast<double>(met) / static_cast<double>(judged);
}

ClassTally::ClassTally(const config::Config& policy)
    : classes_(policy.slo_classes.size()), ttfts_(policy.slo_classes.size()) {
  for (std::size_t i = 0; i < classes_.size(); ++i) {
    const config::SloClass& slo = policy.slo_classes[i];
    classes_[i].slo_class = slo.name;
    classes_[i].ttft_target_seconds = seconds(slo.ttft);
    classes_[i].e2e_target_seconds = seconds(slo.e2e);
  }
}

void ClassTally::add(const Request& r) {
  ClassOutcome& c = classes_[r.slo_class];
  ++c.requests;
  if (!r.provisioned) {
    ++c.unserved;
  } else {
    ++(*r.provisioned ? c.provisioned : c.serverless);
    ttfts_[r.slo_class].push_back(r.ttft_seconds);
  }
  c.serverless_usd += r.usd;
  if (r.waited) c.waited = c.waited.value_or(0) + (*r.waited ? 1 : 0);
  if (r.spilled) c.spilled = c.spilled.value_or(0) + (*r.spilled ? 1 : 0);
  if (!r.judged) return;
  ++c.judged;
  if (r.provisioned && r.ttft_seconds <= c.ttft_target_seconds &&
      r.e2e_seconds <= c.e2e_target_seconds) {
    ++c.met;
  }
}

std::vector<ClassOutcome> ClassTally::classes() const {
  std::vector<ClassOutcome> out;
  for (std::size_t i = 0; i < classes_.size(); ++i) {
    if (classes_[i].requests == 0) continue;
    ClassOutcome c = classes_[i];
    if (!ttfts_[i].empty()) {
      c.ttft_p50_seconds = percentile(ttfts_[i], 0.5);
      c.ttft_p95_seconds = percentile(ttfts_[i], 0.95);
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace fulcrum::replay
