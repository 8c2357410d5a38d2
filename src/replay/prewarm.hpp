#pragma once
// Whether an endpoint's prewarm windows hold it warm at a time. The gateway pings an endpoint
// inside a window often enough that it never idles into a cold start, so the replay counts it
// warm for the whole window (the ping that opens a window is not modelled).
#include <cstdint>
#include <vector>

#include "fulcrum/config/config.hpp"

namespace fulcrum::replay {

class PrewarmWindows {
 public:
  explicit PrewarmWindows(const config::Endpoint& endpoint) : prewarm_(&endpoint.prewarm) {}

  // Evaluated once per minute of wall time: a window's state is looked up by scanning back
  // through its cron firings, too slow to do for every request.
  bool warm(core::WallTime at);

 private:
  const std::vector<config::Prewarm>* prewarm_;
  std::int64_t minute_ = -1;
  bool warm_ = false;
};

}  // namespace fulcrum::replay
