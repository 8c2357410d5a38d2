#include "runtime.hpp"

#include <spdlog/fmt/chrono.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "fulcrum/auth/authenticator.hpp"

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

ssl::context make_client_tls() {
  ssl::context tls(ssl::context::tls_client);
  tls.set_default_verify_paths();  // the system trust store
  tls.set_verify_mode(ssl::verify_peer);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  return tls;
}

// Spend already in the ledger for each budget's current period: a restart neither forgets
// it nor counts it twice (the in-memory books start from zero).
void restore_spend(const config::Config& config, metering::SqliteLedger& store,
                   metering::BudgetBook& budgets) {
  const auto now = core::WallClock::now();
  for (std::size_t i = 0; i < config.budgets.size(); ++i) {
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

}  // namespace

Runtime::Runtime(config::Config config, std::string version)
    : version_(std::move(version)), metrics_(version_), tls_(make_client_tls()) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->config = std::move(config);
  const config::Config& c = snapshot->config;  // the snapshot's own: its address is stable
  snapshot->meters = metrics_.bind(c);
  snapshot->live = std::make_shared<router::LiveState>(c);
  snapshot->budgets = std::make_shared<metering::BudgetBook>(c);
  snapshot->rate_limits = std::make_shared<auth::RateLimiter>(c);
  snapshot->models_json = models_json(c);
  snapshot->config_hash = auth::to_hex(auth::sha256(c.text));
  snapshot->loaded_at = fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)));
  metrics_.config_info(snapshot->config_hash);
  spdlog::info("config_loaded source={} hash={}", c.source, snapshot->config_hash);
  if (c.ledger.enabled) {
    auto store = metering::SqliteLedger::open(c.ledger.path);
    if (!store) throw std::runtime_error(store.error());
    restore_spend(c, **store, *snapshot->budgets);
    ledger_ = std::make_unique<metering::Ledger>(std::move(*store), c.ledger);
    metrics_.watch_ledger(&ledger_->stats());
  }
  metrics_.watch_budgets(*snapshot->meters, snapshot->budgets);
  snapshot_.store(std::move(snapshot));
}

void Runtime::close_ledger() {
  if (!ledger_) return;
  ledger_->close();
  spdlog::info("ledger_closed written={} dropped={} failed={}", ledger_->stats().written.load(),
               ledger_->stats().dropped.load(), ledger_->stats().failed.load());
}

Worker::Worker(unsigned worker_index, Runtime& runtime)
    : index(worker_index), ids(worker_index), random_state(std::random_device{}()) {
  const auto snapshot = runtime.snapshot();
  for (const auto& endpoint : snapshot->config.endpoints) {
    // The snapshot outlives the pools: Runtime holds it for the gateway's life.
    pools.push_back(std::make_unique<UpstreamPool>(io, endpoint, runtime.tls()));
  }
}

}  // namespace fulcrum::net
