#include "runtime.hpp"

#include <spdlog/fmt/chrono.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "fulcrum/auth/authenticator.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/metering/postgres_ledger.hpp"
#include "shared_state.hpp"

namespace fulcrum::net {
namespace {

std::string models_json(const config::Config& config) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& alias : config.models) {
    data.push_back(
        {{"id", alias.name}, {"object", "model"}, {"created", 0}, {"owned_by", "fulcrum"}});
  }
  return nlohmann::json{{"object", "list"}, {"data", std::move(data)}}.dump();
}

// Spend already in the ledger for each budget's current period: a restart neither forgets
// it nor counts it twice (the in-memory books start from zero).
template <class Filter>
void restore_spend(const config::Config& config, metering::LedgerReader& store,
                   metering::BudgetBook& budgets, Filter wanted) {
  const auto now = core::WallClock::now();
  for (std::size_t i = 0; i < config.budgets.size(); ++i) {
    if (!wanted(i)) continue;
    const config::Budget& budget = config.budgets[i];
    const metering::Period period = metering::period_at(budget, now);
    const auto since_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(period.start.time_since_epoch())
            .count();
    const bool by_key = budget.scope == config::Budget::Scope::key;
    const bool by_team = budget.scope == config::Budget::Scope::team;
    const core::Money spent = store.spent_since(since_ms, by_key ? budget.scope_value : "",
                                                by_team ? budget.scope_value : "");
    budgets.restore(i, spent, now);
    spdlog::info("budget_restored budget={} spent_usd={}", budget.name, spent.to_decimal());
  }
}

// The same from the ledger `config` names, opened for reading: with PostgreSQL, every
// replica's spend. A ledger that cannot be read restores nothing, and says so.
template <class Filter>
void restore_spend_from_ledger(const config::Config& config, metering::BudgetBook& budgets,
                               Filter wanted) {
  if (config.budgets.empty()) return;
  auto reader = metering::open_ledger_reader(config.ledger);
  if (!reader) {
    spdlog::warn("budget_restore_failed {}", reader.error());
    return;
  }
  restore_spend(config, **reader, budgets, wanted);
}

}  // namespace

Runtime::Runtime(config::Config config, std::string version)
    : version_(std::move(version)), user_agent_("fulcrum/" + version_), metrics_(version_) {
  std::shared_ptr<Snapshot> snapshot = build(std::move(config), nullptr);
  const config::Config& c = snapshot->config;
  if (c.ledger.enabled) {
    // Without PostgreSQL the file is the ledger; with it, the file is the spool.
    auto file = metering::SqliteLedger::open(c.ledger.path);
    if (!file) throw std::runtime_error(file.error());
    std::unique_ptr<metering::LedgerStore> store;
    if (c.ledger.postgres) {
      restore_spend_from_ledger(c, *snapshot->budgets, [](std::size_t) { return true; });
      store = metering::PostgresLedger::open(c.ledger.postgres->url, std::move(*file),
                                             c.ledger.postgres->spool_rows);
    } else {
      restore_spend(c, **file, *snapshot->budgets, [](std::size_t) { return true; });
      store = std::move(*file);
    }
    ledger_ = std::make_unique<metering::Ledger>(std::move(store), c.ledger);
    metrics_.watch_ledger(&ledger_->stats());
  }
  metrics_.watch_budgets(*snapshot->meters, snapshot->budgets);
  metrics_.watch_economics(c, snapshot, snapshot->economics);
  snapshot_.store(std::move(snapshot));
}

std::shared_ptr<Snapshot> Runtime::build(config::Config config, const Snapshot* previous) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->config = std::move(config);
  const config::Config& c = snapshot->config;  // the snapshot's own: its address is stable
  snapshot->meters = metrics_.bind(c);
  const auto now = core::Clock::now();
  if (previous == nullptr) {
    snapshot->live = std::make_shared<router::LiveState>(c);
    snapshot->budgets = std::make_shared<metering::BudgetBook>(c);
    snapshot->rate_limits = std::make_shared<auth::RateLimiter>(c, local_share(c.state));
    snapshot->economics = std::make_shared<metering::Economics>(c, now);
  } else {
    snapshot->live = std::make_shared<router::LiveState>(c, *previous->live);
    snapshot->budgets = std::make_shared<metering::BudgetBook>(c, *previous->budgets);
    snapshot->rate_limits =
        std::make_shared<auth::RateLimiter>(c, *previous->rate_limits, local_share(c.state));
    // The old hourly prices apply up to now; the new ones from here on.
    for (std::size_t i = 0; i < previous->config.endpoints.size(); ++i) {
      if (auto* meter = previous->economics->meter(i)) {
        meter->accrue(previous->config.endpoints[i], now);
      }
    }
    snapshot->economics = std::make_shared<metering::Economics>(c, *previous->economics, now);
  }
  for (const config::Endpoint& endpoint : c.endpoints) {
    const std::string key = endpoint.name + " " + endpoint.base_url.to_string();
    snapshot->pool_ids.push_back(pool_ids_.try_emplace(key, pool_ids_.size()).first->second);
  }
  std::map<std::string, std::shared_ptr<SlotQueue>> queues;
  for (const config::Endpoint& endpoint : c.endpoints) {
    auto& queue = queues[endpoint.name];
    if (const auto old = slot_queues_.find(endpoint.name); old != slot_queues_.end()) {
      queue = old->second;
    } else {
      queue = std::make_shared<SlotQueue>();
    }
    snapshot->slot_queues.push_back(queue);
  }
  slot_queues_ = std::move(queues);
  for (const config::Endpoint& endpoint : c.endpoints) {
    for (const core::Secret* secret : {&endpoint.api_key, &endpoint.provider.aws_secret_access_key,
                                       &endpoint.provider.aws_session_token}) {
      if (!secret->empty()) snapshot->secrets.push_back(secret);
    }
  }
  if (!c.server.admin_token.empty()) snapshot->secrets.push_back(&c.server.admin_token);
  // A connection URL as a whole is a secret too: it carries the password.
  if (c.ledger.postgres && !c.ledger.postgres->url.empty()) {
    snapshot->secrets.push_back(&c.ledger.postgres->url);
  }
  if (c.state.redis && !c.state.redis->password.empty()) {
    snapshot->secrets.push_back(&c.state.redis->password);
  }
  snapshot->models_json = models_json(c);
  snapshot->config_hash = auth::to_hex(auth::sha256(c.text));
  snapshot->loaded_at = fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)));
  metrics_.config_info(snapshot->config_hash);
  for (const std::string& warning : c.warnings) spdlog::warn("config_warning {}", warning);
  spdlog::info("config_loaded source={} hash={}", c.source, snapshot->config_hash);
  return snapshot;
}

void Runtime::keep_restart_only_settings(config::Config& next,
                                         const config::Config& running) const {
  const auto same = [](const core::HostPort& a, const core::HostPort& b) {
    return a.host == b.host && a.port == b.port;
  };
  const auto report = [](const char* setting) {
    spdlog::warn("config_reload_needs_restart setting={}: the running value is kept", setting);
  };
  if (!same(next.server.listen, running.server.listen)) report("server.listen");
  if (!same(next.server.admin_listen, running.server.admin_listen)) report("server.admin_listen");
  if (next.server.threads != running.server.threads) report("server.threads");
  if (next.ledger.enabled != running.ledger.enabled || next.ledger.path != running.ledger.path) {
    report("ledger");
  }
  const auto& a = next.state;
  const auto& b = running.state;
  const bool same_redis =
      a.redis.has_value() == b.redis.has_value() &&
      (!a.redis ||
       (a.redis->host == b.redis->host && a.redis->port == b.redis->port &&
        a.redis->database == b.redis->database && a.redis->key_prefix == b.redis->key_prefix &&
        a.redis->username == b.redis->username &&
        a.redis->password.reveal() == b.redis->password.reveal() &&
        a.redis->timeout == b.redis->timeout && a.redis->lease_ttl == b.redis->lease_ttl));
  if (!same_redis) report("state.redis");
  next.state.redis = running.state.redis;
  next.server.listen = running.server.listen;
  next.server.admin_listen = running.server.admin_listen;
  next.server.threads = running.server.threads;
  next.ledger = running.ledger;
}

ReloadResult Runtime::reload(std::string_view trigger) {
  const std::lock_guard lock(reload_mutex_);
  const std::shared_ptr<const Snapshot> running = snapshot();
  ReloadResult result;
  auto loaded = config::load_file(running->config.source);
  if (!loaded) {
    for (const config::Issue& issue : loaded.error()) result.errors.push_back(issue.to_string());
    result.hash = running->config_hash;
    metrics_.config_reload(false);
    for (const std::string& error : result.errors) spdlog::error("config_reload_error {}", error);
    spdlog::error("config_reload_failed trigger={} errors={} running_hash={}", trigger,
                  result.errors.size(), running->config_hash);
    return result;
  }
  result.ok = true;
  if (loaded->text == running->config.text) {
    result.hash = running->config_hash;
    spdlog::info("config_reload_unchanged trigger={} hash={}", trigger, result.hash);
    return result;
  }
  keep_restart_only_settings(*loaded, running->config);
  std::shared_ptr<Snapshot> next = build(std::move(*loaded), running.get());
  const config::Config& c = next->config;
  if (ledger_) {
    // A budget that is new to this config counts the spend already in the ledger.
    restore_spend_from_ledger(c, *next->budgets,
                              [&next](std::size_t i) { return !next->budgets->carried_over(i); });
  }
  metrics_.watch_budgets(*next->meters, next->budgets);
  metrics_.watch_economics(c, next, next->economics);
  result.changed = true;
  result.hash = next->config_hash;
  snapshot_.store(std::move(next));
  metrics_.config_reload(true);
  spdlog::info("config_reloaded trigger={} hash={}", trigger, result.hash);
  return result;
}

void Runtime::close_ledger() {
  // Gateway::wait() may run twice (explicitly, then from the destructor): close once.
  if (!ledger_ || ledger_closed_.exchange(true)) return;
  ledger_->close();
  spdlog::info("ledger_closed written={} dropped={} failed={}", ledger_->stats().written.load(),
               ledger_->stats().dropped.load(), ledger_->stats().failed.load());
}

Worker::Worker(unsigned worker_index, Runtime& runtime)
    : index(worker_index),
      tls(runtime.tls()),
      ids(worker_index),
      random_state(std::random_device{}()) {}

Worker::~Worker() {
  if (shared) shared->close();
}

std::shared_ptr<UpstreamPool> Worker::pool(const Snapshot& snapshot, std::size_t endpoint) {
  const std::size_t id = snapshot.pool_ids[endpoint];
  if (id >= pools.size()) pools.resize(id + 1);
  if (!pools[id]) {
    pools[id] =
        std::make_shared<UpstreamPool>(io, snapshot.config.endpoints[endpoint].base_url, tls);
  }
  return pools[id];
}

std::size_t Worker::sweep_pools(const Snapshot& current, core::Duration ttl) {
  const auto now = core::Clock::now();
  std::size_t idle = 0;
  for (std::size_t id = 0; id < pools.size(); ++id) {
    if (!pools[id]) continue;
    const bool referenced =
        std::find(current.pool_ids.begin(), current.pool_ids.end(), id) != current.pool_ids.end();
    // Attempts of an older snapshot still running hold their pool; it ends with them.
    if (!referenced) {
      pools[id].reset();
      continue;
    }
    idle += pools[id]->sweep(now, ttl);
  }
  return idle;
}

}  // namespace fulcrum::net
