#pragma once
// Requests counted per SLO class of the policy, for either column (predicted or actual), with
// the gateway's SLO verdict: met when its time to first token and its end-to-end time are
// within the class's targets (fulcrum_slo_violations_total counts the others).
#include <cstddef>
#include <optional>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/replay/replay.hpp"

namespace fulcrum::replay {

class ClassTally {
 public:
  struct Request {
    std::size_t slo_class = 0;
    std::optional<bool> provisioned;  // none: not served
    double usd = 0;
    double ttft_seconds = 0;  // 0 without a first byte, as the gateway judges it
    double e2e_seconds = 0;
    bool judged = false;  // recorded as a success
    std::optional<bool> waited;
    std::optional<bool> spilled;
  };

  explicit ClassTally(const config::Config& policy);
  void add(const Request& request);
  // Those with requests, in the policy's order.
  std::vector<ClassOutcome> classes() const;

 private:
  std::vector<ClassOutcome> classes_;
  std::vector<std::vector<double>> ttfts_;  // of served requests, for the percentiles
};

}  // namespace fulcrum::replay
