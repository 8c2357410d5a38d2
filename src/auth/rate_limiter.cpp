#include "fulcrum/auth/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace fulcrum::auth {
namespace {

// A bucket of `capacity` that refills at capacity per minute; may go negative when real
// usage exceeds what was reserved.
struct Bucket {
  double capacity = 0;
  double level = 0;
  core::Clock::time_point updated;

  void refill(core::Clock::time_point now) {
    const double seconds = std::chrono::duration<double>(now - updated).count();
    if (seconds > 0) level = std::min(capacity, level + seconds * capacity / 60.0);
    updated = std::max(updated, now);
  }
  LimitStatus status() const {
    LimitStatus s;
    s.limit = static_cast<std::uint64_t>(capacity);
    s.remaining = static_cast<std::uint64_t>(std::max(0.0, std::floor(level)));
    const double missing = capacity - level;
    s.reset =
        core::Duration(static_cast<core::Duration::rep>(std::ceil(missing * 60000.0 / capacity)));
    return s;
  }
  // How long until `amount` is available.
  core::Duration wait_for(double amount) const {
    const double missing = std::max(0.0, amount - level);
    return core::Duration(
        static_cast<core::Duration::rep>(std::ceil(missing * 60000.0 / capacity)));
  }
};

}  // namespace

struct RateLimiter::Buckets {
  std::mutex mutex;  // per key: admission is a few arithmetic operations
  std::optional<Bucket> requests;
  std::optional<Bucket> tokens;
};

RateLimiter::RateLimiter(const config::Config& config, unsigned share) {
  const auto now = core::Clock::now();
  // A share never rounds a limit down to nothing: a limited key keeps at least 1.
  const auto part = [share](unsigned limit) {
    return limit == 0 ? 0u : std::max(1u, limit / std::max(1u, share));
  };
  for (const config::ApiKey& key : config.keys) {
    auto buckets = std::make_shared<Buckets>();
    const unsigned rpm = part(key.rpm);
    const unsigned tpm = part(key.tpm);
    if (rpm > 0) buckets->requests = Bucket{double(rpm), double(rpm), now};
    if (tpm > 0) buckets->tokens = Bucket{double(tpm), double(tpm), now};
    keys_.push_back(std::move(buckets));
    limits_.push_back({key.id, rpm, tpm});
  }
}

RateLimiter::RateLimiter(const config::Config& config, const RateLimiter& previous, unsigned share)
    : RateLimiter(config, share) {
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    const auto old = std::find(previous.limits_.begin(), previous.limits_.end(), limits_[i]);
    if (old != previous.limits_.end()) keys_[i] = previous.keys_[old - previous.limits_.begin()];
  }
}

RateLimiter::~RateLimiter() = default;

RateDecision RateLimiter::admit(std::size_t key, std::uint64_t estimated_tokens,
                                core::Clock::time_point now) {
  RateDecision decision;
  if (key >= keys_.size()) return decision;
  Buckets& b = *keys_[key];
  const std::lock_guard lock(b.mutex);
  // A request larger than the whole bucket could never pass: it needs a full bucket instead.
  const double tokens_needed =
      b.tokens ? std::min<double>(static_cast<double>(estimated_tokens), b.tokens->capacity) : 0;
  if (b.requests) b.requests->refill(now);
  if (b.tokens) b.tokens->refill(now);
  if (b.requests && b.requests->level < 1) {
    decision.allowed = false;
    decision.requests_exhausted = true;
    decision.retry_after = b.requests->wait_for(1);
  } else if (b.tokens && b.tokens->level < tokens_needed) {
    decision.allowed = false;
    decision.retry_after = b.tokens->wait_for(tokens_needed);
  } else {
    if (b.requests) b.requests->level -= 1;
    if (b.tokens) b.tokens->level -= tokens_needed;
  }
  if (b.requests) decision.requests = b.requests->status();
  if (b.tokens) decision.tokens = b.tokens->status();
  return decision;
}

void RateLimiter::settle(std::size_t key, std::uint64_t reserved_tokens, std::uint64_t used_tokens,
                         core::Clock::time_point now) {
  if (key >= keys_.size()) return;
  Buckets& b = *keys_[key];
  const std::lock_guard lock(b.mutex);
  if (!b.tokens) return;
  b.tokens->refill(now);
  const double reserved =
      std::min<double>(static_cast<double>(reserved_tokens), b.tokens->capacity);
  b.tokens->level += reserved - static_cast<double>(used_tokens);
}

std::string format_reset(core::Duration duration) {
  const auto ms = duration.count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  const auto seconds = (ms + 999) / 1000;
  if (seconds < 60) return std::to_string(seconds) + "s";
  return std::to_string(seconds / 60) + "m" + std::to_string(seconds % 60) + "s";
}

RateReservation& RateReservation::operator=(RateReservation&& other) noexcept {
  if (this != &other) {
    settle(0, core::Clock::now());
    limiter_ = std::exchange(other.limiter_, nullptr);
    key_ = other.key_;
    tokens_ = std::exchange(other.tokens_, 0);
  }
  return *this;
}

void RateReservation::settle(std::uint64_t used_tokens, core::Clock::time_point now) {
  if (limiter_ == nullptr) return;
  std::exchange(limiter_, nullptr)->settle(key_, tokens_, used_tokens, now);
}

}  // namespace fulcrum::auth
