#include "state_reader.hpp"

#include <charconv>
#include <cstdlib>

#include "policy_reader.hpp"

namespace fulcrum::config {
namespace {

std::optional<unsigned> parse_number(std::string_view text) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

void read_modes(const YAML::Node& node, Diagnostics& diag, SharedStateConfig& state) {
  if (!node.IsDefined()) return;
  MapReader map(node, diag, "state.on_state_unavailable");
  if (!map.valid()) return;
  for (auto [key, field] : {std::pair{"capacity", &state.capacity},
                            {"rate_limits", &state.rate_limits},
                            {"budgets", &state.budgets}}) {
    const YAML::Node value = map.optional(key);
    if (!value.IsDefined()) continue;
    const auto text = read_string(value, diag, key);
    if (text == "local") {
      *field = WhenStateUnavailable::local;
    } else if (text == "closed") {
      *field = WhenStateUnavailable::closed;
    } else if (text) {
      diag.error(value,
                 "state.on_state_unavailable." + std::string(key) + " must be local or closed");
    }
  }
}

void read_redis(const YAML::Node& node, Diagnostics& diag, const EnvLookup& env,
                SharedStateConfig& state) {
  MapReader map(node, diag, "state.redis");
  if (!map.valid()) return;
  RedisConfig redis;
  const YAML::Node url = map.optional("url");
  const YAML::Node url_env = map.optional("url_env");
  std::optional<std::string> text;
  if (url.IsDefined() == url_env.IsDefined()) {
    diag.error(node, "state.redis needs url or url_env (one of them)");
  } else if (url.IsDefined()) {
    text = read_string(url, diag, "state.redis.url");
  } else if (auto var = read_string(url_env, diag, "state.redis.url_env")) {
    const char* value = env ? env(var->c_str()) : std::getenv(var->c_str());
    if (value == nullptr || *value == '\0') {
      diag.error(url_env, "environment variable " + *var + " (state.redis.url_env) is not set");
    } else {
      text = value;
    }
  }
  if (text) {
    // The message never quotes the URL: it may hold a password.
    if (auto problem = parse_redis_url(*text, redis)) {
      diag.error(url.IsDefined() ? url : url_env, "state.redis: " + *problem);
    }
  }
  if (const YAML::Node prefix = map.optional("key_prefix"); prefix.IsDefined()) {
    redis.key_prefix = read_string(prefix, diag, "state.redis.key_prefix").value_or("");
    if (redis.key_prefix.empty()) diag.error(prefix, "state.redis.key_prefix must not be empty");
  }
  if (const YAML::Node timeout = map.optional("timeout"); timeout.IsDefined()) {
    if (auto d = read_positive_duration(timeout, diag, "state.redis.timeout")) redis.timeout = *d;
  }
  if (const YAML::Node ttl = map.optional("lease_ttl"); ttl.IsDefined()) {
    if (auto d = read_positive_duration(ttl, diag, "state.redis.lease_ttl")) {
      if (*d < std::chrono::seconds(1)) {
        diag.error(ttl, "state.redis.lease_ttl must be at least 1s");
      } else {
        redis.lease_ttl = *d;
      }
    }
  }
  state.redis = std::move(redis);
}

}  // namespace

std::optional<std::string> parse_redis_url(std::string_view url, RedisConfig& redis) {
  constexpr std::string_view scheme = "redis://";
  if (url.starts_with("rediss://")) return "TLS (rediss://) is not supported; use redis://";
  if (!url.starts_with(scheme)) return "the URL must start with redis://";
  url.remove_prefix(scheme.size());
  if (const auto at = url.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = url.substr(0, at);
    url.remove_prefix(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      redis.password = core::Secret(std::string(userinfo));  // redis://password@host
    } else {
      redis.username = std::string(userinfo.substr(0, colon));
      redis.password = core::Secret(std::string(userinfo.substr(colon + 1)));
    }
  }
  std::string_view authority = url;
  if (const auto slash = url.find('/'); slash != std::string_view::npos) {
    authority = url.substr(0, slash);
    const std::string_view database = url.substr(slash + 1);
    if (!database.empty()) {
      const auto number = parse_number(database);
      if (!number || *number > 15) return "the database after the host must be 0 to 15";
      redis.database = *number;
    }
  }
  std::string_view host = authority;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return "an IPv6 host needs its closing ]";
    host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    authority.remove_prefix(colon);
  } else {
    authority = {};
  }
  if (authority.starts_with(':')) {
    const auto port = parse_number(authority.substr(1));
    if (!port || *port == 0 || *port > 65535) return "the port must be 1 to 65535";
    redis.port = static_cast<std::uint16_t>(*port);
  }
  if (host.empty()) return "the URL has no host";
  redis.host = std::string(host);
  return std::nullopt;
}

void read_state(const YAML::Node& node, Diagnostics& diag, const EnvLookup& env, Config& config) {
  if (!node.IsDefined()) return;
  MapReader map(node, diag, "state");
  if (!map.valid()) return;
  SharedStateConfig& state = config.state;
  if (const YAML::Node redis = map.optional("redis"); redis.IsDefined()) {
    read_redis(redis, diag, env, state);
  }
  if (const YAML::Node replicas = map.optional("replicas"); replicas.IsDefined()) {
    const auto number = read_unsigned(replicas, diag, "state.replicas");
    if (number && (*number == 0 || *number > 1000)) {
      diag.error(replicas, "state.replicas must be 1 to 1000");
    } else if (number) {
      state.replicas = static_cast<unsigned>(*number);
    }
  }
  read_modes(map.optional("on_state_unavailable"), diag, state);
}

}  // namespace fulcrum::config
