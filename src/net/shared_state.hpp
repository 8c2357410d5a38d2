#pragma once
// What replicas must agree on, kept in Redis (state.redis): provisioned capacity slots as
// leases, budget spend and holds per period, and rate-limit buckets per key. One per worker,
// on the worker's io_context and its own Redis connection; nothing here is shared between
// threads. Every call has a deadline: an answer of "unavailable" (nullopt) sends the caller
// to the feature's on_state_unavailable mode, never to a wait.
//
// Slots and holds are counted per holder (this replica and worker): the worker keeps the
// count it believes it has and asserts it every lease_ttl / 3 (renew), so a release lost
// while Redis was away, or Redis restarting empty, is corrected within one renewal, and a
// crashed replica's share stops counting lease_ttl after it last renewed.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fulcrum/auth/rate_limiter.hpp"
#include "fulcrum/config/config.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/metering/budgets.hpp"
#include "fulcrum/metering/metrics.hpp"
#include "fulcrum/net/asio.hpp"
#include "redis_client.hpp"

namespace fulcrum::net {

// One budget's current period, as Redis keys it.
struct SharedBudget {
  std::size_t index = 0;  // Config::budgets
  std::string key;        // P budget:{name}:{period start}
  std::optional<core::Money> hard;
  std::int64_t expire_at = 0;  // Unix seconds: a day after the period ends
  core::Money known_spent;     // this replica's book: its own spend, and the fleet's last seen
};

struct SharedBudgetVerdict {
  bool allowed = true;
  std::optional<std::size_t> refused_by;  // SharedBudget::index
  std::optional<core::Money> left;        // of the refusing budget, when some is
  core::Money refused_spent;              // the refusing budget's spend across the fleet
  // Spend across the fleet so far, per budget reserved in (by position), when allowed.
  std::vector<core::Money> spent;
};

class SharedState {
 public:
  SharedState(asio::io_context& io, const config::SharedStateConfig& config, std::string holder,
              metering::StateMeters& meters);

  core::Duration lease_ttl() const { return config_.redis->lease_ttl; }
  const std::string& holder() const { return holder_; }
  // For shutdown, once the worker's thread has stopped and before its io_context goes: the
  // connection is dropped, and slots and holds still given back (by coroutine frames the
  // io_context destroys) are only counted here.
  void close();

  // Counts a decision taken by a feature's on_state_unavailable mode.
  enum class Feature { capacity, rate_limits, budgets };
  void count_unavailable(Feature feature);

  // Capacity: a slot of `limit` on `endpoint` across the fleet.
  enum class Slot { granted, full, unavailable };
  struct SlotAnswer {
    Slot slot = Slot::unavailable;
    unsigned fleet_in_flight = 0;  // slots taken across the fleet, when Redis answered
  };
  awaitable<SlotAnswer> acquire_slot(const std::string& endpoint, unsigned limit);
  // A slot taken by this replica's local share while Redis was away: asserted at the next
  // renewal, so the fleet's count includes it once Redis is back.
  void note_local_slot(const std::string& endpoint);
  // Gives back a slot: a granted one to Redis, in the background; a noted one only here (Redis
  // never counted it one by one: the next renewal asserts the count without it).
  void release_slot(const std::string& endpoint, bool granted);

  // Admission's questions in one round trip (pipelined): the key's RPM and TPM buckets across
  // the fleet (`key` null: not asked); holding `estimate` in every one of `budgets`, or in
  // none if a hard limit would be passed (empty: not asked); and with `slot`, the plan's first
  // target's capacity slot, so that its attempt needs no round trip of its own. An answer
  // missing from one that was asked means Redis was unavailable for it.
  struct SlotRequest {
    std::string endpoint;
    unsigned limit = 0;
  };
  struct Admission {
    std::optional<auth::RateDecision> rate;
    std::optional<SharedBudgetVerdict> budgets;
    std::optional<SlotAnswer> slot;
  };
  awaitable<Admission> admit(const config::ApiKey* key, std::uint64_t tokens,
                             const std::vector<SharedBudget>& budgets, core::Money estimate,
                             const SlotRequest* slot);
  // Gives back what was reserved and takes what was used, in the background.
  void settle_rate(const config::ApiKey& key, std::uint64_t reserved, std::uint64_t used);

  // Releases `held` and adds `actual` to each budget's spend, in the background; each
  // budget's known_spent must include `actual` (it seeds a period Redis has lost). Spend Redis
  // did not take is kept and sent again at the next renewal, so it is not lost.
  void settle_budget(std::vector<SharedBudget> budgets, core::Money held, core::Money actual);

  // Asserts what this worker holds and sends spend still owed. Returns the fleet's slots in
  // use per endpoint name it holds slots on; nullopt when Redis did not answer.
  awaitable<std::optional<std::vector<std::pair<std::string, unsigned>>>> renew();

 private:
  struct Holding {
    std::int64_t amount = 0;  // slots, or nano-USD held
    std::int64_t expire_at = 0;
    bool capacity = false;
    std::string endpoint;  // for capacity keys
  };
  std::string capacity_key(const std::string& endpoint) const;
  RedisClient::Started start_slot(const std::string& endpoint, unsigned limit);
  SlotAnswer slot_answer(const RedisResult& result, const std::string& endpoint);
  RedisClient::Started start_rate(const config::ApiKey& key, std::uint64_t tokens);
  RedisClient::Started start_budgets(const std::vector<SharedBudget>& budgets,
                                     core::Money estimate);
  std::optional<SharedBudgetVerdict> budget_verdict(const RedisResult& result,
                                                    const std::vector<SharedBudget>& budgets,
                                                    core::Money estimate);

  const config::SharedStateConfig config_;
  const std::string holder_;
  metering::StateMeters& meters_;
  RedisClient redis_;
  std::string holders_key_;
  std::int64_t ttl_ms_;
  std::unordered_map<std::string, Holding> holdings_;  // by Redis key
  bool closed_ = false;
  // Spend Redis has not confirmed, by budget key.
  struct Owed {
    std::int64_t amount = 0;  // nano-USD
    std::int64_t expire_at = 0;
    std::int64_t known = 0;  // the book's spend when last owed, that spend included
  };
  std::unordered_map<std::string, Owed> owed_;
};

// A capacity slot held in Redis (granted, or noted while Redis was away), given back when
// the guard goes out of scope however the scope is left.
class SharedSlot {
 public:
  enum class Kind { granted, noted };
  SharedSlot(SharedState& state, std::string endpoint, Kind kind)
      : state_(&state), endpoint_(std::move(endpoint)), kind_(kind) {}
  SharedSlot(SharedSlot&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)),
        endpoint_(std::move(other.endpoint_)),
        kind_(other.kind_) {}
  SharedSlot& operator=(SharedSlot&&) = delete;
  ~SharedSlot() {
    if (state_ != nullptr) state_->release_slot(endpoint_, kind_ == Kind::granted);
  }

 private:
  SharedState* state_;
  std::string endpoint_;
  Kind kind_;
};

// What one request holds in the shared state from admission until it is metered: tokens
// under its key's rate limit and money in the budgets covering it. settle() gives them back
// and charges what was used; holds still held when the object goes (an exception, a destroyed
// coroutine) are given back with nothing used.
class SharedHolds {
 public:
  SharedHolds() = default;
  SharedHolds(const SharedHolds&) = delete;
  SharedHolds& operator=(const SharedHolds&) = delete;
  ~SharedHolds() { settle(core::Money{}, 0); }

  void hold_rate(SharedState& state, const config::ApiKey& key, std::uint64_t tokens);
  void hold_budgets(SharedState& state, std::vector<SharedBudget> budgets, core::Money estimate);
  bool holds_budgets() const { return budget_state_ != nullptr; }
  // Once: the rate limit's tokens and the budgets' money, with what the request used.
  // `book`, settled already with `actual`, says what the replica knows of each budget's spend
  // now, for a Redis that lost the period; without it, what it knew at admission.
  void settle(core::Money actual, std::uint64_t used_tokens, metering::BudgetBook* book = nullptr,
              core::WallTime now = {});

 private:
  SharedState* rate_state_ = nullptr;
  const config::ApiKey* key_ = nullptr;
  std::uint64_t tokens_ = 0;
  SharedState* budget_state_ = nullptr;
  std::vector<SharedBudget> budgets_;
  core::Money held_;
};

// Names this process among the replicas: host name, process id and a random suffix (a
// restarted replica is a new holder; its predecessor's slots expire on their own).
std::string make_replica_id();

// Into how many shares a capacity or rate limit is split while each replica enforces its own
// (Redis unreachable, mode local): state.replicas, or 1 (the whole limit) when not set or
// when nothing is shared.
inline unsigned local_share(const config::SharedStateConfig& state) {
  return state.redis && state.replicas > 0 ? state.replicas : 1;
}

// The Redis keys of the budgets covering `key_id` and `team` at `now`.
std::vector<SharedBudget> shared_budgets(const config::Config& config, metering::BudgetBook& book,
                                         std::string_view key_prefix, std::string_view key_id,
                                         std::string_view team, core::WallTime now);

}  // namespace fulcrum::net
