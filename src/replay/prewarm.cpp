#include "prewarm.hpp"

namespace fulcrum::replay {

bool PrewarmWindows::warm(core::WallTime at) {
  if (prewarm_->empty()) return false;
  const std::int64_t minute =
      std::chrono::duration_cast<std::chrono::minutes>(at.time_since_epoch()).count();
  if (minute != minute_) {
    minute_ = minute;
    warm_ = false;
    for (const config::Prewarm& prewarm : *prewarm_) warm_ = warm_ || prewarm.window.active(at);
  }
  return warm_;
}

}  // namespace fulcrum::replay
