#pragma once
// Reader for where replicas share state (`state:`): Redis, how many replicas share the
// limits, and what each shared feature does while Redis cannot be reached.
#include "fulcrum/config/config.hpp"
#include "fulcrum/config/loader.hpp"
#include "yaml_reader.hpp"

namespace fulcrum::config {

void read_state(const YAML::Node& node, Diagnostics& diag, const EnvLookup& env, Config& config);

// "redis://[user[:password]@]host[:port][/database]" into `redis`; an error message if not.
std::optional<std::string> parse_redis_url(std::string_view url, RedisConfig& redis);

}  // namespace fulcrum::config
