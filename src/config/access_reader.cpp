#include "access_reader.hpp"

#include <algorithm>
#include <cstdlib>

#include "policy_reader.hpp"

namespace fulcrum::config {
namespace {

std::optional<std::array<unsigned char, 32>> parse_sha256(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::array<unsigned char, 32> out{};
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    const int high = nibble(hex[2 * i]);
    const int low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return out;
}

std::optional<core::Money> read_usd(const YAML::Node& node, Diagnostics& diag,
                                    std::string_view what) {
  const auto usd = read_number(node, diag, what);
  if (!usd) return std::nullopt;
  if (*usd < 0 || *usd > 1e9) {
    diag.error(node, std::string(what) + " must be between 0 and 1e9 USD");
    return std::nullopt;
  }
  return core::Money::from_usd(*usd);
}

unsigned read_limit(MapReader& map, std::string_view key, Diagnostics& diag) {
  const YAML::Node node = map.optional(key);
  if (!node.IsDefined()) return 0;
  const auto value = read_unsigned(node, diag, key);
  if (value && *value > 100'000'000) diag.error(node, std::string(key) + " is implausibly large");
  return value ? static_cast<unsigned>(std::min<std::uint64_t>(*value, 100'000'000)) : 0;
}

}  // namespace

namespace {

void read_postgres(const YAML::Node& node, Diagnostics& diag, const EnvLookup& env,
                   LedgerConfig& ledger) {
  MapReader map(node, diag, "ledger.postgres");
  if (!map.valid()) return;
  PostgresLedgerConfig postgres;
  const YAML::Node url_env = map.required("url_env");
  if (url_env.IsDefined()) {
    postgres.url_env = read_string(url_env, diag, "ledger.postgres.url_env").value_or("");
    const char* value = postgres.url_env.empty() ? nullptr
                                                 : (env ? env(postgres.url_env.c_str())
                                                        : std::getenv(postgres.url_env.c_str()));
    if (value == nullptr || *value == '\0') {
      diag.error(url_env, "environment variable " + postgres.url_env +
                              " (ledger.postgres.url_env) is not set");
    } else {
      const std::string_view url(value);
      // The message never quotes the URL: it may hold a password.
      if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
        diag.error(url_env,
                   "environment variable " + postgres.url_env + " must hold a postgresql:// URL");
      }
      postgres.url = core::Secret(std::string(url));
    }
  }
  if (const YAML::Node rows = map.optional("spool_rows"); rows.IsDefined()) {
    const auto number = read_unsigned(rows, diag, "ledger.postgres.spool_rows");
    if (number && *number == 0) diag.error(rows, "ledger.postgres.spool_rows must be above zero");
    if (number && *number > 0) postgres.spool_rows = static_cast<std::size_t>(*number);
  }
  ledger.postgres = std::move(postgres);
}

}  // namespace

void read_ledger(const YAML::Node& node, Diagnostics& diag, const EnvLookup& env, Config& config) {
  if (!node.IsDefined()) return;
  MapReader map(node, diag, "ledger");
  if (!map.valid()) return;
  LedgerConfig& ledger = config.ledger;
  if (const YAML::Node postgres = map.optional("postgres"); postgres.IsDefined()) {
    read_postgres(postgres, diag, env, ledger);
  }
  if (const YAML::Node enabled = map.optional("enabled"); enabled.IsDefined()) {
    const auto text = read_string(enabled, diag, "ledger.enabled");
    if (text == "true" || text == "false") {
      ledger.enabled = *text == "true";
    } else if (text) {
      diag.error(enabled, "ledger.enabled must be true or false");
    }
  }
  if (const YAML::Node path = map.optional("path"); path.IsDefined()) {
    ledger.path = read_string(path, diag, "ledger.path").value_or(ledger.path);
    if (ledger.path.empty()) diag.error(path, "ledger.path must not be empty");
  }
  if (const YAML::Node window = map.optional("batch_window"); window.IsDefined()) {
    if (auto d = read_positive_duration(window, diag, "ledger.batch_window")) {
      ledger.batch_window = *d;
    }
  }
  for (auto [key, field] :
       {std::pair{"batch_rows", &ledger.batch_rows}, {"queue_capacity", &ledger.queue_capacity}}) {
    const YAML::Node value = map.optional(key);
    if (!value.IsDefined()) continue;
    const auto number = read_unsigned(value, diag, key);
    if (number && *number == 0) diag.error(value, std::string(key) + " must be above zero");
    if (number && *number > 0) *field = static_cast<std::size_t>(*number);
  }
}

void read_auth(const YAML::Node& node, Diagnostics& diag, Config& config) {
  if (!node.IsDefined()) return;
  MapReader map(node, diag, "auth");
  const YAML::Node mode = map.required("mode");
  if (!mode.IsDefined()) return;
  const auto text = read_string(mode, diag, "auth.mode");
  if (text == "required") {
    config.auth_mode = AuthMode::required;
  } else if (text == "open") {
    config.auth_mode = AuthMode::open;
  } else if (text) {
    diag.error(mode, "auth.mode must be 'required' (keys needed) or 'open' (anonymous allowed)");
  }
}

void read_keys(const YAML::Node& node, Diagnostics& diag, Config& config) {
  if (!node.IsDefined()) {
    if (config.auth_mode == AuthMode::required) {
      diag.error(YAML::Mark::null_mark(), "auth.mode is required but no keys are configured");
    }
    return;
  }
  if (!node.IsSequence()) {
    diag.error(node, "keys must be a list of {id, sha256, team, models, slo, rpm, tpm}");
    return;
  }
  for (const YAML::Node& item : node) {
    MapReader map(item, diag, "a key");
    if (!map.valid()) continue;
    ApiKey key;
    if (const YAML::Node id = map.required("id"); id.IsDefined()) {
      key.id = read_string(id, diag, "id").value_or("");
      const bool taken = std::any_of(config.keys.begin(), config.keys.end(),
                                     [&](const ApiKey& k) { return k.id == key.id; });
      if (taken) diag.error(id, "key id '" + key.id + "' is used twice");
    }
    if (const YAML::Node hash = map.required("sha256"); hash.IsDefined()) {
      const auto text = read_string(hash, diag, "sha256");
      const auto digest = text ? parse_sha256(*text) : std::nullopt;
      if (digest) {
        key.sha256 = *digest;
      } else if (text) {
        // Never echo the value: someone may have pasted the secret itself here.
        diag.error(hash,
                   "sha256 must be 64 hex digits: the hash of the key (fulcrum keys hash), "
                   "not the key");
      }
    }
    if (const YAML::Node team = map.optional("team"); team.IsDefined()) {
      key.team = read_string(team, diag, "team").value_or(key.team);
    }
    for (const YAML::Node& model : list_of(map.optional("models"))) {
      const auto name = read_string(model, diag, "a model alias");
      if (!name) continue;
      if (const ModelAlias* alias = config.find_alias(*name)) {
        key.models.push_back(static_cast<std::size_t>(alias - config.models.data()));
      } else {
        diag.error(model, "key names unknown model alias '" + *name + "'");
      }
    }
    if (const YAML::Node slo = map.optional("slo"); slo.IsDefined()) {
      key.slo = slo_class_at(slo, diag, config);
    }
    key.rpm = read_limit(map, "rpm", diag);
    key.tpm = read_limit(map, "tpm", diag);
    config.keys.push_back(std::move(key));
  }
}

void read_budgets(const YAML::Node& node, Diagnostics& diag, Config& config) {
  if (!node.IsDefined()) return;
  if (!node.IsSequence()) {
    diag.error(node, "budgets must be a list of {name, scope, period, soft_usd, hard_usd}");
    return;
  }
  for (const YAML::Node& item : node) {
    MapReader map(item, diag, "a budget");
    if (!map.valid()) continue;
    Budget budget;
    if (const YAML::Node name = map.required("name"); name.IsDefined()) {
      budget.name = read_string(name, diag, "name").value_or("");
      const bool taken = std::any_of(config.budgets.begin(), config.budgets.end(),
                                     [&](const Budget& b) { return b.name == budget.name; });
      if (taken) diag.error(name, "budget '" + budget.name + "' is defined twice");
    }
    if (const YAML::Node scope = map.optional("scope"); scope.IsDefined()) {
      if (scope.IsScalar() && scope.Scalar() == "global") {
        budget.scope = Budget::Scope::global;
      } else {
        MapReader s(scope, diag, "scope");
        const YAML::Node key = s.optional("key");
        const YAML::Node team = s.optional("team");
        if (key.IsDefined() == team.IsDefined()) {
          diag.error(scope, "scope is global, {key: ID} or {team: NAME}");
        } else if (key.IsDefined()) {
          budget.scope = Budget::Scope::key;
          budget.scope_value = read_string(key, diag, "scope.key").value_or("");
          const bool known = std::any_of(config.keys.begin(), config.keys.end(),
                                         [&](const auto& k) { return k.id == budget.scope_value; });
          if (!known) diag.error(key, "scope names unknown key id '" + budget.scope_value + "'");
        } else {
          budget.scope = Budget::Scope::team;
          budget.scope_value = read_string(team, diag, "scope.team").value_or("");
        }
      }
    }
    if (const YAML::Node period = map.optional("period"); period.IsDefined()) {
      const auto text = read_string(period, diag, "period");
      if (text == "daily") {
        budget.period = Budget::Period::daily;
      } else if (text == "monthly") {
        budget.period = Budget::Period::monthly;
      } else if (text) {
        diag.error(period, "period must be daily or monthly");
      }
    }
    if (const YAML::Node tz = map.optional("tz"); tz.IsDefined()) {
      const auto name = read_string(tz, diag, "tz");
      auto zone = name ? core::TimeZone::load(*name) : std::nullopt;
      if (zone) {
        budget.zone = std::move(*zone);
      } else if (name) {
        diag.error(tz, "unknown time zone '" + *name + "'");
      }
    }
    if (const YAML::Node soft = map.optional("soft_usd"); soft.IsDefined()) {
      budget.soft = read_usd(soft, diag, "soft_usd");
    }
    if (const YAML::Node hard = map.optional("hard_usd"); hard.IsDefined()) {
      budget.hard = read_usd(hard, diag, "hard_usd");
    }
    if (!budget.soft && !budget.hard) diag.error(item, "a budget needs soft_usd, hard_usd or both");
    if (budget.soft && budget.hard && *budget.soft > *budget.hard) {
      diag.error(item, "soft_usd is above hard_usd");
    }
    if (const YAML::Node on_soft = map.optional("on_soft"); on_soft.IsDefined()) {
      MapReader o(on_soft, diag, "on_soft");
      if (const YAML::Node alias = o.required("downgrade_to"); alias.IsDefined()) {
        const auto name = read_string(alias, diag, "downgrade_to");
        const ModelAlias* target = name ? config.find_alias(*name) : nullptr;
        if (target == nullptr && name) {
          diag.error(alias, "downgrade_to names unknown model alias '" + *name + "'");
        } else if (target != nullptr) {
          budget.downgrade_to = static_cast<std::size_t>(target - config.models.data());
        }
      }
      if (!budget.soft) diag.error(on_soft, "on_soft needs soft_usd");
    }
    config.budgets.push_back(std::move(budget));
  }
}

}  // namespace fulcrum::config
