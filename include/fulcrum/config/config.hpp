#pragma once
// The immutable configuration snapshot. A request takes one snapshot at its start and uses it
// to its end; a reload (a later issue) publishes a new snapshot and never edits one in place.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/core/secret.hpp"
#include "fulcrum/core/url.hpp"

namespace fulcrum::config {

struct Limits {
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  core::Duration header_timeout = std::chrono::seconds(10);
  core::Duration idle_timeout = std::chrono::seconds(60);
};

struct ServerConfig {
  core::HostPort listen{"0.0.0.0", 8080};
  core::HostPort admin_listen{"127.0.0.1", 9090};
  unsigned threads = 0;  // 0 = one per core
  Limits limits;
  // On SIGTERM/SIGINT: how long requests and streams in flight may take to finish.
  core::Duration drain_timeout = std::chrono::seconds(30);
};

struct Timeouts {
  core::Duration connect = std::chrono::seconds(2);
  core::Duration first_byte = std::chrono::seconds(30);
  core::Duration idle = std::chrono::seconds(30);
  core::Duration total = std::chrono::seconds(600);
};

enum class EndpointKind { serverless, provisioned };
const char* to_string(EndpointKind kind);

struct Price {
  core::PricePerMillion input;
  core::PricePerMillion cached_input;
  core::PricePerMillion output;
};

struct Capacity {
  unsigned max_concurrency = 0;         // 0 = not stated
  double output_tokens_per_second = 0;  // 0 = not stated
};

struct Endpoint {
  std::string name;
  EndpointKind kind = EndpointKind::serverless;
  core::Url base_url;
  std::string api_key_env;  // the variable's name is fine to show; its value is not
  core::Secret api_key;
  double hourly_usd = 0;  // provisioned only
  Capacity capacity;
  Timeouts timeouts;
  std::map<std::string, Price, std::less<>> pricing;  // serverless: upstream model → price
};

// One place an alias can be served: an endpoint (by index into Config::endpoints) and the
// model name that endpoint expects.
struct Target {
  std::size_t endpoint = 0;
  std::string upstream_model;
  Price price;  // zero for provisioned targets: already paid for
};

struct ModelAlias {
  std::string name;
  std::vector<Target> targets;  // in fallback order
};

struct Config {
  std::string source;  // file name, for messages
  ServerConfig server;
  std::vector<Endpoint> endpoints;
  std::vector<ModelAlias> models;

  const ModelAlias* find_alias(std::string_view name) const;

 private:
  friend class Builder;
  std::unordered_map<std::string, std::size_t> alias_index_;
};

}  // namespace fulcrum::config
