#pragma once
// The immutable configuration snapshot. A request takes one snapshot at its start and uses it
// to its end; a reload publishes a new snapshot and never edits one in place.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "fulcrum/config/policy.hpp"
#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/core/schedule.hpp"
#include "fulcrum/core/secret.hpp"
#include "fulcrum/core/url.hpp"

namespace fulcrum::config {

struct Limits {
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_header_count = 100;
  core::Duration header_timeout = std::chrono::seconds(10);
  core::Duration idle_timeout = std::chrono::seconds(60);
  // Open client connections on the data port, in all and from one address; beyond them a
  // new connection gets 503 and is closed.
  std::size_t max_connections = 10000;
  std::size_t max_connections_per_client = 1000;
};

// The ledger in PostgreSQL, one for every replica (ledger.postgres).
struct PostgresLedgerConfig {
  std::string url_env;  // names the variable that holds the URL; the name may be shown
  core::Secret url;     // postgresql://user:password@host:5432/database
  // Rows PostgreSQL could not take wait in the SQLite file at ledger.path (the spool), up to
  // this many; beyond that new rows are dropped and counted.
  std::size_t spool_rows = 1'000'000;
};

struct LedgerConfig {
  std::optional<PostgresLedgerConfig> postgres;  // absent: the SQLite file at `path`
  bool enabled = true;
  std::string path = "fulcrum-ledger.db";
  // Rows are committed in batches: at most this long after a request, or this many at once.
  core::Duration batch_window = std::chrono::milliseconds(50);
  std::size_t batch_rows = 500;
  // Rows waiting beyond this are dropped (and counted): the request path never waits.
  std::size_t queue_capacity = 100000;
};

// What a shared feature does while the shared state cannot be reached.
enum class WhenStateUnavailable {
  local,   // each replica enforces its own share (see SharedStateConfig::replicas)
  closed,  // refuse what cannot be checked: capacity spills, limited requests get 503
};

// Redis, where replicas keep what must be one truth among them (state.redis).
struct RedisConfig {
  std::string host;
  std::uint16_t port = 6379;
  unsigned database = 0;
  std::string username;  // with a password: Redis 6 ACL user
  core::Secret password;
  std::string key_prefix = "fulcrum:";
  core::Duration timeout = std::chrono::milliseconds(5);  // every call's deadline
  // A capacity slot or budget hold of a replica that stopped renewing (crashed, cut off) is
  // given back this long after its last renewal; live replicas renew every third of it.
  core::Duration lease_ttl = std::chrono::seconds(10);
};

struct SharedStateConfig {
  std::optional<RedisConfig> redis;  // absent: every replica keeps its state in process
  // How many replicas share the limits: while Redis is unreachable, each enforces 1/replicas
  // of every capacity and rate limit. 0 (unknown): the whole limit.
  unsigned replicas = 0;
  WhenStateUnavailable capacity = WhenStateUnavailable::local;
  WhenStateUnavailable rate_limits = WhenStateUnavailable::local;
  WhenStateUnavailable budgets = WhenStateUnavailable::local;
};

enum class AuthMode { open, required };

// A client API key. Only the SHA-256 of its secret is configured, never the secret.
struct ApiKey {
  std::string id;
  std::array<unsigned char, 32> sha256{};
  std::string team = "none";
  std::vector<std::size_t> models;  // aliases it may use (Config::models indexes); empty = all
  std::optional<std::size_t> slo;   // its requests' SLO class unless x-fulcrum-priority says
  unsigned rpm = 0;                 // requests per minute; 0 = unlimited
  unsigned tpm = 0;                 // tokens per minute; 0 = unlimited
};

struct Budget {
  enum class Scope { global, key, team };
  enum class Period { daily, monthly };
  std::string name;
  Scope scope = Scope::global;
  std::string scope_value;  // the key id or team name
  Period period = Period::daily;
  core::TimeZone zone;  // where the period's midnight is
  std::optional<core::Money> soft;
  std::optional<core::Money> hard;
  std::optional<std::size_t> downgrade_to;  // alias used once the soft limit is reached
};

struct ServerConfig {
  core::HostPort listen{"0.0.0.0", 8080};
  core::HostPort admin_listen{"127.0.0.1", 9090};
  // When set, /metrics and /admin/* need "Authorization: Bearer <token>".
  std::string admin_token_env;
  core::Secret admin_token;
  unsigned threads = 0;  // 0 = one per core
  Limits limits;
  // On SIGTERM/SIGINT: how long requests and streams in flight may take to finish.
  core::Duration drain_timeout = std::chrono::seconds(30);
  // After a client leaves a stream, how long the upstream is still read for its usage.
  core::Duration usage_drain_timeout = std::chrono::seconds(30);
  // An idle pooled upstream connection is closed after this long (and at once when its
  // server closes it), so that none lingers in CLOSE_WAIT.
  core::Duration upstream_idle_ttl = std::chrono::seconds(60);
};

struct Timeouts {
  core::Duration connect = std::chrono::seconds(2);
  core::Duration first_byte = std::chrono::seconds(30);
  core::Duration idle = std::chrono::seconds(30);
  core::Duration total = std::chrono::seconds(600);

  // These timeouts with the overrides that are set replacing them.
  Timeouts with(const TimeoutOverrides& overrides) const;
};

enum class EndpointKind { serverless, provisioned };

// The OpenAI APIs an endpoint serves (endpoints.*.apis), as bits.
enum class Api : std::uint8_t {
  chat = 1 << 0,         // /v1/chat/completions
  completions = 1 << 1,  // /v1/completions
  embeddings = 1 << 2,   // /v1/embeddings
  responses = 1 << 3,    // /v1/responses
  messages = 1 << 4,     // /v1/messages (Anthropic's Messages API, for provider anthropic)
};
// What an OpenAI-compatible endpoint serves unless `apis` says otherwise.
inline constexpr std::uint8_t kAllApis = 0x0F;
const char* to_string(Api api);
const char* to_string(EndpointKind kind);

// Per-token prices of one serverless model. Each Usage bucket has its own; reasoning tokens
// are output tokens and priced as such.
struct Price {
  core::PricePerMillion input;              // uncached prompt tokens
  core::PricePerMillion cached_input;       // read from the prompt cache
  core::PricePerMillion output;             // completion tokens, reasoning included
  core::PricePerMillion cache_write_input;  // written to the prompt cache
};

// Where serverless prices not written in YAML come from (top-level `pricing`).
struct PricingConfig {
  std::string catalog;  // a LiteLLM-format JSON file, relative to the config file; "" = none
  double max_usd_per_1m_tokens = 1000;  // catalog rows above this are rejected
};

// A provisioned unit that is not deployed yet, priced for `fulcrum report`'s what-if
// (reports.candidates).
struct WhatIfUnit {
  std::string name;
  double hourly_usd = 0;
  double output_tokens_per_second = 0;
  double input_token_weight = 0.25;
  std::vector<std::size_t> aliases;  // the aliases it would serve (Config::models); empty = all
};

// A committed price of a provisioned endpoint (endpoints.*.commitments), e.g. a 1- or 6-month
// reservation: cheaper per hour than on demand, but billed every hour of its term, used or not.
// Only `fulcrum report` reads it; the router and the meters go by hourly_usd.
struct Commitment {
  std::string name;  // [a-z0-9_-]+, unique per endpoint: "1_month"
  double hourly_usd = 0;
};

struct Capacity {
  unsigned max_concurrency = 0;         // 0 = not stated
  double output_tokens_per_second = 0;  // 0 = not stated
  // What an input token costs the endpoint, in output tokens: prefill processes a prompt
  // several times faster than decode generates, so a prompt token weighs less.
  double input_token_weight = 0.25;
  // Requests the gateway may hold waiting for a slot here (capacity.max_waiting): past it, a
  // request that would wait spills instead. Each waiter holds its request body in memory.
  unsigned max_waiting = 256;
};

// The last `fraction` of a provisioned endpoint's concurrency serves only these classes.
struct Headroom {
  double fraction = 0;
  std::vector<std::size_t> reserved_for;  // indexes into Config::slo_classes
};

// A scale-to-zero serverless deployment: idle past `after_idle`, its next request waits for
// a cold start.
struct ColdStart {
  core::Duration after_idle = std::chrono::seconds(300);
  core::Duration p50 = std::chrono::seconds(8);
  core::Duration p95 = std::chrono::seconds(60);
};

// Keep-warm requests sent while `window` is active, often enough that the endpoint never
// sits idle for `after_idle`.
struct Prewarm {
  // `auto: true`: warm whenever the ledger's hour-of-week profile expects traffic here now or
  // a cold start ahead, instead of inside `window`.
  bool automatic = false;
  core::CronWindow window;
  std::string model;  // upstream model to ping; the endpoint's first priced model by default
  core::Duration every = std::chrono::seconds(60);
  // One ping's whole life (connect, send, answer): short, so a slow endpoint delays only its
  // own keep-warm, never another endpoint's.
  core::Duration timeout = std::chrono::seconds(10);
};

// Latency estimates before live traffic has taught better ones.
struct LatencySeed {
  core::Duration ttft = std::chrono::milliseconds(500);
  double seconds_per_output_token = 0.02;
};

struct CircuitBreakerPolicy {
  unsigned failures = 5;  // consecutive failures that open the circuit
  core::Duration cooldown = std::chrono::seconds(30);
};

// The wire an endpoint's upstream speaks (endpoints.*.provider). `openai` is any
// OpenAI-compatible server: OpenAI, vLLM, SGLang, TGI, Together, Fireworks, Groq...
enum class Provider : std::uint8_t { openai, azure, gemini, anthropic, bedrock };
const char* to_string(Provider provider);

// What a provider's wire needs beyond a base URL and a key.
struct ProviderSettings {
  Provider kind = Provider::openai;
  // azure: the dated api-version of the deployments URL; "" = the /openai/v1 surface.
  std::string api_version;
  // azure: the key is a Microsoft Entra ID token, sent as a bearer token, not as api-key.
  bool entra_token = false;
  // anthropic: the API version spoken. 2023-06-01 authenticates with x-api-key and takes
  // sampling parameters; 2026-10-21 authenticates with a bearer token and rejects them.
  std::string anthropic_version = "2026-10-21";
  // anthropic, bedrock: max_tokens for requests that set none (Anthropic requires one; 0 for
  // bedrock unless configured: Converse then lets the model use its maximum).
  unsigned default_max_tokens = 4096;
  // anthropic: parameters the version does not take are refused with a 400 (true) or
  // dropped with an x-fulcrum-warning header (false).
  bool reject_unsupported = false;

  // bedrock: the region requests are signed for ("us-east-1"; from the base URL's host
  // bedrock-runtime.{region}.amazonaws.com when not configured).
  std::string aws_region;
  // bedrock: AWS credentials for SigV4, read at load from the variables named by
  // aws_access_key_id_env etc. (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN by
  // default). Unset when the endpoint authenticates with a Bedrock API key (api_key_env).
  core::Secret aws_access_key_id;
  core::Secret aws_secret_access_key;
  core::Secret aws_session_token;  // STS credentials only

  // The generation after 2023-06-01: bearer authentication, no sampling parameters.
  bool anthropic_current_generation() const { return anthropic_version != "2023-06-01"; }
  // bedrock: requests are signed with SigV4 (else a Bedrock API key goes as a bearer token).
  bool signs_v4() const { return !aws_secret_access_key.empty(); }
};

// Which engine's Prometheus names a provisioned endpoint's load is read by.
enum class EngineFormat { vllm, sglang, tgi };

// Where a provisioned endpoint's serving engine reports its own load (endpoints.*.load): it
// counts every client of the GPU, other replicas and other applications included.
struct EngineLoadSource {
  core::Url metrics_url;  // the engine's /metrics
  EngineFormat format = EngineFormat::vllm;
  core::Duration interval = std::chrono::milliseconds(250);
  // A reading older than this (the engine stopped answering) is not believed: the router goes
  // by Fulcrum's own counts again.
  core::Duration stale_after = std::chrono::seconds(2);
};

struct Endpoint {
  std::string name;
  ProviderSettings provider;
  EndpointKind kind = EndpointKind::serverless;
  core::Url base_url;
  std::string api_key_env;  // the variable's name is fine to show; its value is not
  core::Secret api_key;
  double hourly_usd = 0;                // provisioned only: the on-demand price
  std::vector<Commitment> commitments;  // provisioned only, in configured order
  // Serverless: prices missing under `pricing` are looked up in the catalog as
  // catalog_prefix + upstream model ("together_ai/" + "meta-llama/...").
  std::string catalog_prefix;
  Capacity capacity;
  Headroom headroom;
  std::optional<EngineLoadSource> load;  // provisioned only
  bool spill_on_429 = false;             // provisioned: a 429 means "full", not "broken"
  std::uint8_t apis = kAllApis;          // Api bits: what this endpoint can be sent
  bool serves(Api api) const { return (apis & static_cast<std::uint8_t>(api)) != 0; }
  std::optional<ColdStart> cold_start;
  std::vector<Prewarm> prewarm;
  LatencySeed latency;
  CircuitBreakerPolicy circuit_breaker;
  Timeouts timeouts;
  std::map<std::string, Price, std::less<>> pricing;  // serverless: upstream model → price
  // Provider openai only: upstream model → its price at OpenAI's flex tier (service_tier:
  // flex, slower and sometimes refused with 429, priced like the Batch API). Only models whose
  // `pricing` entry has a `flex` member are here.
  std::map<std::string, Price, std::less<>> flex_pricing;
};

// One place an alias can be served: an endpoint (by index into Config::endpoints) and the
// model name that endpoint expects.
struct Target {
  std::size_t endpoint = 0;
  std::string upstream_model;
  Price price;        // zero for provisioned targets: already paid for
  double weight = 1;  // for the weighted strategy
  // The price at the flex tier, when the endpoint offers one for this model (flex_pricing):
  // routes' flex_for classes are sent there at it.
  std::optional<Price> flex_price;
};

struct ModelAlias {
  std::string name;
  // In configured order, other aliases' targets spliced in where they were named.
  std::vector<Target> targets;
  // A classifying alias (`classify: complexity`) has no targets of its own: each classifier
  // tier names the alias that serves it, by index into Config::models.
  bool classify = false;
  std::vector<std::size_t> tier_alias;  // by tier index
};

struct Config {
  std::string source;  // file name, for messages
  std::string text;    // the YAML it was read from (its hash identifies the running config)
  ServerConfig server;
  std::vector<Endpoint> endpoints;
  std::vector<ModelAlias> models;
  std::vector<SloClass> slo_classes;  // never empty
  // User routes in order, then a catch-all named "default": never empty once loaded.
  std::vector<Route> routes;
  std::vector<std::string> route_headers;  // lower-case names that routes match on
  Classifier classifier;
  RetryBudgetPolicy retry_budget;
  LedgerConfig ledger;
  SharedStateConfig state;
  AuthMode auth_mode = AuthMode::open;
  std::vector<ApiKey> keys;
  std::vector<Budget> budgets;
  PricingConfig pricing;
  std::vector<WhatIfUnit> what_if;  // reports.candidates
  // Not errors, but worth a line in the log and in `fulcrum check` (rejected catalog rows).
  std::vector<std::string> warnings;

  const ModelAlias* find_alias(std::string_view name) const;
  std::optional<std::size_t> find_slo_class(std::string_view name) const;
  std::optional<std::size_t> find_endpoint(std::string_view name) const;

 private:
  friend class Builder;
  std::unordered_map<std::string, std::size_t> alias_index_;
};

}  // namespace fulcrum::config
