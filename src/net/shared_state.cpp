#include "shared_state.hpp"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <random>

#include "fulcrum/metering/budgets.hpp"
#include "state_scripts.hpp"

namespace fulcrum::net {
namespace {

using RedisType = RedisReply::Type;

std::int64_t unix_seconds(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// A reply that is an array of at least `size` elements.
const std::vector<RedisReply>* array_of(const RedisResult& result, std::size_t size) {
  if (!result || result->type != RedisType::array || result->elements.size() < size) {
    return nullptr;
  }
  return &result->elements;
}

core::Money money_of(const RedisReply& reply) {
  return core::Money{static_cast<std::int64_t>(std::llround(reply.number().value_or(0)))};
}

auth::LimitStatus status_of(double capacity, double level) {
  auth::LimitStatus s;
  s.limit = static_cast<std::uint64_t>(capacity);
  s.remaining = static_cast<std::uint64_t>(std::max(0.0, std::floor(level)));
  s.reset = core::Duration(
      static_cast<core::Duration::rep>(std::ceil((capacity - level) * 60000.0 / capacity)));
  return s;
}

}  // namespace

SharedState::SharedState(asio::io_context& io, const config::SharedStateConfig& config,
                         std::string holder, metering::StateMeters& meters)
    : config_(config),
      holder_(std::move(holder)),
      meters_(meters),
      redis_(io, *config.redis, meters,
             {&scripts::acquire_slot(), &scripts::release_slot(), &scripts::renew(),
              &scripts::reserve_budget(), &scripts::settle_budget(), &scripts::admit_rate(),
              &scripts::settle_rate()}),
      holders_key_(config.redis->key_prefix + "holders"),
      ttl_ms_(config.redis->lease_ttl.count()) {}

void SharedState::close() {
  closed_ = true;
  redis_.close();
}

void SharedState::count_unavailable(Feature feature) {
  switch (feature) {
    case Feature::capacity:
      meters_.unavailable_capacity->Increment();
      break;
    case Feature::rate_limits:
      meters_.unavailable_rate_limits->Increment();
      break;
    case Feature::budgets:
      meters_.unavailable_budgets->Increment();
      break;
  }
}

std::string SharedState::capacity_key(const std::string& endpoint) const {
  return config_.redis->key_prefix + "capacity:" + endpoint;
}

RedisClient::Started SharedState::start_slot(const std::string& endpoint, unsigned limit) {
  const std::string key = capacity_key(endpoint);
  // Counted before the call: a renewal sent while it is under way must not assert less than
  // Redis may grant (one connection keeps the order).
  Holding& holding = holdings_[key];
  holding.capacity = true;
  holding.endpoint = endpoint;
  ++holding.amount;
  return redis_.start_eval(scripts::acquire_slot(), {key, holders_key_},
                           {holder_, std::to_string(limit), std::to_string(ttl_ms_)});
}

SharedState::SlotAnswer SharedState::slot_answer(const RedisResult& result,
                                                 const std::string& endpoint) {
  SlotAnswer answer;
  const auto* reply = array_of(result, 2);
  if (reply == nullptr) {
    --holdings_[capacity_key(endpoint)].amount;
    return answer;  // unavailable
  }
  answer.fleet_in_flight = static_cast<unsigned>(std::max<long long>(0, (*reply)[1].integer));
  if ((*reply)[0].integer == 1) {
    answer.slot = Slot::granted;
  } else {
    answer.slot = Slot::full;
    --holdings_[capacity_key(endpoint)].amount;
  }
  return answer;
}

awaitable<SharedState::SlotAnswer> SharedState::acquire_slot(const std::string& endpoint,
                                                             unsigned limit) {
  const RedisClient::Started started = start_slot(endpoint, limit);
  const RedisResult result = co_await redis_.finish(started);
  co_return slot_answer(result, endpoint);
}

void SharedState::note_local_slot(const std::string& endpoint) {
  Holding& holding = holdings_[capacity_key(endpoint)];
  holding.capacity = true;
  holding.endpoint = endpoint;
  ++holding.amount;
}

void SharedState::release_slot(const std::string& endpoint, bool granted) {
  const std::string key = capacity_key(endpoint);
  --holdings_[key].amount;
  if (!granted || closed_) return;
  // Unanswered, the next renewal asserts the count without this slot.
  redis_.eval_in_background(scripts::release_slot(), {key}, {holder_}, {});
}

RedisClient::Started SharedState::start_rate(const config::ApiKey& key, std::uint64_t tokens) {
  return redis_.start_eval(
      scripts::admit_rate(), {config_.redis->key_prefix + "rate:" + key.id},
      {std::to_string(key.rpm), std::to_string(key.tpm), std::to_string(tokens)});
}

namespace {

std::optional<auth::RateDecision> rate_decision(const RedisResult& result,
                                                const config::ApiKey& key) {
  const auto* reply = array_of(result, 5);
  if (reply == nullptr) return std::nullopt;
  auth::RateDecision decision;
  decision.allowed = (*reply)[0].integer == 1;
  decision.requests_exhausted = (*reply)[1].integer == 1;
  decision.retry_after = core::Duration((*reply)[2].integer);
  if (key.rpm > 0) decision.requests = status_of(key.rpm, (*reply)[3].number().value_or(0));
  if (key.tpm > 0) decision.tokens = status_of(key.tpm, (*reply)[4].number().value_or(0));
  return decision;
}

}  // namespace

awaitable<SharedState::Admission> SharedState::admit(const config::ApiKey* key,
                                                     std::uint64_t tokens,
                                                     const std::vector<SharedBudget>& budgets,
                                                     core::Money estimate,
                                                     const SlotRequest* slot) {
  // All sent before any reply is awaited: one round trip for admission.
  std::optional<RedisClient::Started> rate;
  std::optional<RedisClient::Started> held;
  std::optional<RedisClient::Started> leased;
  if (key != nullptr) rate = start_rate(*key, tokens);
  if (!budgets.empty()) held = start_budgets(budgets, estimate);
  if (slot != nullptr) leased = start_slot(slot->endpoint, slot->limit);
  Admission answer;
  if (rate) {
    const RedisResult result = co_await redis_.finish(*rate);
    answer.rate = rate_decision(result, *key);
  }
  if (held) {
    const RedisResult result = co_await redis_.finish(*held);
    answer.budgets = budget_verdict(result, budgets, estimate);
  }
  if (leased) {
    const RedisResult result = co_await redis_.finish(*leased);
    answer.slot = slot_answer(result, slot->endpoint);
  }
  co_return answer;
}

void SharedState::settle_rate(const config::ApiKey& key, std::uint64_t reserved,
                              std::uint64_t used) {
  if (key.tpm == 0 || closed_) return;  // only a token bucket is settled: a request is one
  const auto reserved_tokens = std::min<std::uint64_t>(reserved, key.tpm);
  const auto back = static_cast<std::int64_t>(reserved_tokens) -
                    static_cast<std::int64_t>(std::min<std::uint64_t>(used, 1ULL << 62));
  // Unanswered, the bucket is as the admission left it: at worst the estimate is charged
  // instead of the real usage, for one request.
  redis_.eval_in_background(
      scripts::settle_rate(), {config_.redis->key_prefix + "rate:" + key.id},
      {std::to_string(key.rpm), std::to_string(key.tpm), std::to_string(back)}, {});
}

RedisClient::Started SharedState::start_budgets(const std::vector<SharedBudget>& budgets,
                                                core::Money estimate) {
  std::vector<std::string> keys;
  std::vector<std::string> args{holder_, std::to_string(ttl_ms_),
                                std::to_string(estimate.nano_usd)};
  for (const SharedBudget& budget : budgets) {
    keys.push_back(budget.key);
    args.push_back(budget.hard ? std::to_string(budget.hard->nano_usd) : "-1");
    args.push_back(std::to_string(budget.expire_at));
    args.push_back(std::to_string(budget.known_spent.nano_usd));
    // Counted before the call, as for slots.
    Holding& holding = holdings_[budget.key];
    holding.amount += estimate.nano_usd;
    holding.expire_at = budget.expire_at;
  }
  keys.push_back(holders_key_);
  return redis_.start_eval(scripts::reserve_budget(), keys, args);
}

std::optional<SharedBudgetVerdict> SharedState::budget_verdict(
    const RedisResult& result, const std::vector<SharedBudget>& budgets, core::Money estimate) {
  const auto* reply = array_of(result, 2);
  SharedBudgetVerdict verdict;
  if (reply != nullptr && (*reply)[0].integer == 1 && reply->size() == budgets.size() + 2) {
    for (std::size_t i = 0; i < budgets.size(); ++i) {
      verdict.spent.push_back(money_of((*reply)[i + 2]));
    }
    return verdict;
  }
  for (const SharedBudget& budget : budgets) holdings_[budget.key].amount -= estimate.nano_usd;
  if (reply == nullptr || (*reply)[0].integer == 1 || reply->size() < 4) return std::nullopt;
  const auto refused = static_cast<std::size_t>((*reply)[1].integer);
  if (refused < 1 || refused > budgets.size()) return std::nullopt;
  const SharedBudget& budget = budgets[refused - 1];
  verdict.allowed = false;
  verdict.refused_by = budget.index;
  verdict.refused_spent = money_of((*reply)[2]);
  const core::Money used = verdict.refused_spent + money_of((*reply)[3]);
  if (budget.hard && used < *budget.hard) {
    verdict.left = core::Money{budget.hard->nano_usd - used.nano_usd};
  }
  return verdict;
}

void SharedState::settle_budget(std::vector<SharedBudget> budgets, core::Money held,
                                core::Money actual) {
  if (budgets.empty()) return;
  if (closed_) {
    for (const SharedBudget& budget : budgets) holdings_[budget.key].amount -= held.nano_usd;
    return;
  }
  std::vector<std::string> keys;
  std::vector<std::string> args{holder_, std::to_string(-held.nano_usd),
                                std::to_string(actual.nano_usd)};
  for (const SharedBudget& budget : budgets) {
    holdings_[budget.key].amount -= held.nano_usd;
    keys.push_back(budget.key);
    args.push_back(std::to_string(budget.expire_at));
    args.push_back(std::to_string(budget.known_spent.nano_usd));
  }
  redis_.eval_in_background(
      scripts::settle_budget(), keys, args,
      [this, budgets = std::move(budgets), actual](const RedisResult& result) {
        if (result || actual.nano_usd == 0) return;
        // Owed, and sent again by the next renewal. If the call did reach Redis and only its
        // reply was lost, the spend counts twice there: budgets err towards refusing.
        for (const SharedBudget& budget : budgets) {
          Owed& owed = owed_[budget.key];
          owed.amount += actual.nano_usd;
          owed.expire_at = budget.expire_at;
          owed.known = std::max(owed.known, budget.known_spent.nano_usd);
        }
      });
}

awaitable<std::optional<std::vector<std::pair<std::string, unsigned>>>> SharedState::renew() {
  std::vector<std::string> keys{holders_key_};
  std::vector<std::string> args{holder_, std::to_string(ttl_ms_)};
  std::vector<std::pair<std::string, std::int64_t>> asserted;  // key, amount asserted
  for (const auto& [key, holding] : holdings_) {
    const std::int64_t amount = std::max<std::int64_t>(0, holding.amount);
    keys.push_back(key);
    asserted.emplace_back(key, amount);
    args.push_back(std::to_string(amount));
    args.push_back(std::to_string(holding.capacity ? 0 : holding.expire_at));
  }
  const RedisResult result = co_await redis_.eval(scripts::renew(), keys, args);
  const auto* reply = array_of(result, asserted.size());
  if (reply == nullptr) co_return std::nullopt;

  std::vector<std::pair<std::string, unsigned>> fleet;
  for (std::size_t i = 0; i < asserted.size(); ++i) {
    const auto it = holdings_.find(asserted[i].first);
    if (it == holdings_.end()) continue;
    if (it->second.capacity) {
      fleet.emplace_back(it->second.endpoint,
                         static_cast<unsigned>(std::max<long long>(0, (*reply)[i].integer)));
    }
    // Redis was told nothing is held there, and nothing is now: nothing to renew next time.
    // (Asserted more and released since, it is asserted once more, as 0.)
    if (asserted[i].second == 0 && it->second.amount <= 0) holdings_.erase(it);
  }
  // Spend owed from while Redis was away. Taken out whole: a settle failing meanwhile adds to
  // a fresh owed_, and what is not sent now goes back into it.
  auto sending = std::exchange(owed_, {});
  for (auto it = sending.begin(); it != sending.end(); it = sending.erase(it)) {
    const std::vector<std::string> owed_keys{it->first};
    const std::vector<std::string> owed_args{holder_, "0", std::to_string(it->second.amount),
                                             std::to_string(it->second.expire_at),
                                             std::to_string(it->second.known)};
    const RedisResult settled =
        co_await redis_.eval(scripts::settle_budget(), owed_keys, owed_args);
    if (!settled) break;
  }
  for (const auto& [key, owed] : sending) {
    Owed& back = owed_[key];
    back.amount += owed.amount;
    back.expire_at = owed.expire_at;
    back.known = std::max(back.known, owed.known);
  }
  co_return fleet;
}

void SharedHolds::hold_rate(SharedState& state, const config::ApiKey& key, std::uint64_t tokens) {
  rate_state_ = &state;
  key_ = &key;
  tokens_ = tokens;
}

void SharedHolds::hold_budgets(SharedState& state, std::vector<SharedBudget> budgets,
                               core::Money estimate) {
  budget_state_ = &state;
  budgets_ = std::move(budgets);
  held_ = estimate;
}

void SharedHolds::settle(core::Money actual, std::uint64_t used_tokens, metering::BudgetBook* book,
                         core::WallTime now) {
  if (SharedState* state = std::exchange(rate_state_, nullptr)) {
    state->settle_rate(*key_, tokens_, used_tokens);
  }
  if (SharedState* state = std::exchange(budget_state_, nullptr)) {
    // The book knew this much at admission; this request's spend comes on top, and the book
    // may have learnt more since (at a period's turn it restarts low: the larger counts).
    for (SharedBudget& budget : budgets_) {
      budget.known_spent += actual;
      if (book != nullptr) {
        budget.known_spent = std::max(budget.known_spent, book->spent(budget.index, now));
      }
    }
    state->settle_budget(std::move(budgets_), held_, actual);
  }
}

std::string make_replica_id() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::random_device random;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", random());
  return std::string(host.data()) + "-" + std::to_string(getpid()) + "-" + suffix;
}

std::vector<SharedBudget> shared_budgets(const config::Config& config, metering::BudgetBook& book,
                                         std::string_view key_prefix, std::string_view key_id,
                                         std::string_view team, core::WallTime now) {
  std::vector<SharedBudget> out;
  for (std::size_t i = 0; i < config.budgets.size(); ++i) {
    if (!book.covers(i, key_id, team)) continue;
    const config::Budget& budget = config.budgets[i];
    const metering::Period period = metering::period_at(budget, now);
    SharedBudget shared;
    shared.index = i;
    shared.key = std::string(key_prefix) + "budget:" + budget.name + ":" +
                 std::to_string(unix_seconds(period.start));
    shared.hard = budget.hard;
    shared.expire_at = unix_seconds(period.end) + 24 * 3600;
    shared.known_spent = book.spent(i, now);
    out.push_back(std::move(shared));
  }
  return out;
}

}  // namespace fulcrum::net
