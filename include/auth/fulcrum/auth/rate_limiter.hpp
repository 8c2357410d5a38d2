#pragma once
// Per-key requests-per-minute and tokens-per-minute limits as token buckets that refill
// continuously. Tokens are reserved at admission from an estimate and settled with the
// real usage when the request ends.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/duration.hpp"

namespace fulcrum::auth {

// One limit as OpenAI's x-ratelimit-* headers describe it.
struct LimitStatus {
  std::uint64_t limit = 0;  // 0: no limit of this kind
  std::uint64_t remaining = 0;
  core::Duration reset{0};  // until the bucket is full again
};

struct RateDecision {
  bool allowed = true;
  bool requests_exhausted = false;  // otherwise tokens were
  LimitStatus requests;
  LimitStatus tokens;
  core::Duration retry_after{0};
};

class RateLimiter {
 public:
  // `share`: this process enforces 1/share of every limit (a replica's share while the
  // state replicas share is unreachable); 1 for the whole limit.
  explicit RateLimiter(const config::Config& config, unsigned share = 1);
  // For a reloaded config: a key whose id and limits are unchanged keeps its buckets.
  RateLimiter(const config::Config& config, const RateLimiter& previous, unsigned share = 1);
  ~RateLimiter();

  RateDecision admit(std::size_t key, std::uint64_t estimated_tokens, core::Clock::time_point now);
  // Gives back what was reserved and takes what was used (the bucket may go below zero).
  void settle(std::size_t key, std::uint64_t reserved_tokens, std::uint64_t used_tokens,
              core::Clock::time_point now);

 private:
  struct Buckets;
  struct KeyLimits {
    std::string id;
    unsigned rpm = 0;
    unsigned tpm = 0;
    bool operator==(const KeyLimits&) const = default;
  };
  std::vector<KeyLimits> limits_;
  std::vector<std::shared_ptr<Buckets>> keys_;
};

// The tokens one request holds under its key's TPM limit, from admission until it ends.
// settle() gives them back and takes what was used; a reservation still held when it goes
// out of scope (an exception, an early return, a destroyed coroutine) gives them back with
// nothing used.
class RateReservation {
 public:
  RateReservation() = default;  // holds nothing
  RateReservation(RateLimiter& limiter, std::size_t key, std::uint64_t tokens)
      : limiter_(&limiter), key_(key), tokens_(tokens) {}
  RateReservation(RateReservation&& other) noexcept { *this = std::move(other); }
  RateReservation& operator=(RateReservation&& other) noexcept;
  ~RateReservation() { settle(0, core::Clock::now()); }

  bool held() const { return limiter_ != nullptr; }
  // Returns the reservation and takes `used_tokens`; once.
  void settle(std::uint64_t used_tokens, core::Clock::time_point now);

 private:
  RateLimiter* limiter_ = nullptr;
  std::size_t key_ = 0;
  std::uint64_t tokens_ = 0;
};

// "1s", "6m0s", "250ms": the duration format of OpenAI's x-ratelimit-reset-* headers.
std::string format_reset(core::Duration duration);

}  // namespace fulcrum::auth
