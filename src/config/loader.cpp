#include "fulcrum/config/loader.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "access_reader.hpp"
#include "economics_reader.hpp"
#include "policy_reader.hpp"
#include "state_reader.hpp"
#include "yaml_reader.hpp"

namespace fulcrum::config {

namespace {

bool is_endpoint_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool is_alias_name(std::string_view name) {
  return !name.empty() && name.size() <= 256 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

void read_host_port(const YAML::Node& node, Diagnostics& diag, std::string_view what,
                    core::HostPort& out) {
  if (!node.IsDefined()) return;
  if (auto text = read_string(node, diag, what)) {
    if (auto parsed = core::parse_host_port(*text)) {
      out = *parsed;
    } else {
      diag.error(node, std::string(what) + " must be host:port, e.g. 127.0.0.1:8080");
    }
  }
}

template <class T, class Read>
void read_into(const YAML::Node& node, T& out, Read read) {
  if (!node.IsDefined()) return;
  if (auto value = read(node)) out = static_cast<T>(*value);
}

// The secret in environment variable `var`, named by the setting `setting`. Unset is an
// error when `required`, else nothing. A secret becomes a header value: a stray newline (a
// common copy-paste accident) would break the request or inject a header, so spaces and
// control characters are refused. Messages never quote the value.
std::optional<core::Secret> read_env_secret(const EnvLookup& env, const std::string& var,
                                            const YAML::Node& where, Diagnostics& diag,
                                            std::string_view setting, bool required) {
  const char* value = env ? env(var.c_str()) : std::getenv(var.c_str());
  if (value == nullptr || *value == '\0') {
    if (required) {
      diag.error(where,
                 "environment variable " + var + " (" + std::string(setting) + ") is not set");
    }
    return std::nullopt;
  }
  if (std::any_of(value, value + std::strlen(value),
                  [](char c) { return static_cast<unsigned char>(c) < 0x21 || c == 0x7f; })) {
    diag.error(where, "environment variable " + var + " (" + std::string(setting) +
                          ") contains spaces or control characters");
    return std::nullopt;
  }
  return core::Secret(value);
}

void read_server(const YAML::Node& node, Diagnostics& diag, const EnvLookup& env,
                 ServerConfig& server) {
  MapReader map(node, diag, "server");
  read_host_port(map.optional("listen"), diag, "server.listen", server.listen);
  read_host_port(map.optional("admin_listen"), diag, "server.admin_listen", server.admin_listen);
  if (const YAML::Node token = map.optional("admin_token_env"); token.IsDefined()) {
    if (auto var = read_string(token, diag, "server.admin_token_env")) {
      server.admin_token_env = *var;
      const char* value = env ? env(var->c_str()) : std::getenv(var->c_str());
      if (value == nullptr || std::strlen(value) < 16) {
        diag.error(token, "environment variable " + *var +
                              " (admin_token_env) must hold a token of at least 16 characters");
      } else {
        server.admin_token = core::Secret(value);
      }
    }
  }
  read_into(map.optional("threads"), server.threads,
            [&](const YAML::Node& n) { return read_unsigned(n, diag, "server.threads"); });
  if (server.threads > 256) {
    diag.error(map.optional("threads"), "server.threads must be at most 256");
  }
  read_into(map.optional("drain_timeout"), server.drain_timeout,
            [&](const YAML::Node& n) { return read_duration(n, diag, "server.drain_timeout"); });
  read_into(
      map.optional("usage_drain_timeout"), server.usage_drain_timeout,
      [&](const YAML::Node& n) { return read_duration(n, diag, "server.usage_drain_timeout"); });
  read_into(map.optional("upstream_idle_ttl"), server.upstream_idle_ttl, [&](const YAML::Node& n) {
    return read_duration(n, diag, "server.upstream_idle_ttl");
  });

  const YAML::Node limits_node = map.optional("limits");
  if (!limits_node.IsDefined()) return;
  MapReader limits(limits_node, diag, "server.limits");
  Limits& out = server.limits;
  read_into(limits.optional("max_body_bytes"), out.max_body_bytes,
            [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_body_bytes"); });
  read_into(limits.optional("max_header_bytes"), out.max_header_bytes,
            [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_header_bytes"); });
  read_into(limits.optional("max_header_count"), out.max_header_count,
            [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_header_count"); });
  read_into(limits.optional("max_connections"), out.max_connections,
            [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_connections"); });
  read_into(
      limits.optional("max_connections_per_client"), out.max_connections_per_client,
      [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_connections_per_client"); });
  read_into(limits.optional("header_timeout"), out.header_timeout,
            [&](const YAML::Node& n) { return read_duration(n, diag, "header_timeout"); });
  read_into(limits.optional("idle_timeout"), out.idle_timeout,
            [&](const YAML::Node& n) { return read_duration(n, diag, "idle_timeout"); });
  if (out.max_header_bytes < 1024) {
    diag.error(limits_node, "max_header_bytes must be at least 1024");
  }
}

std::optional<core::PricePerMillion> read_price(const YAML::Node& node, Diagnostics& diag,
                                                std::string_view what) {
  const auto usd = read_number(node, diag, what);
  if (!usd) return std::nullopt;
  auto price = core::PricePerMillion::from_usd(*usd);
  if (!price) diag.error(node, std::string(what) + " is out of range");
  return price;
}

// One model's prices; `flex_allowed`: a `flex` member (the flex tier's prices) may be read.
std::optional<Price> read_model_price(const YAML::Node& node, Diagnostics& diag,
                                      const std::string& what, bool flex_allowed,
                                      Endpoint& endpoint, const std::string& model) {
  MapReader map(node, diag, what);
  if (!map.valid()) return std::nullopt;
  Price price;
  const YAML::Node input = map.required("input");
  const YAML::Node output = map.required("output");
  const YAML::Node cached = map.optional("cached_input");
  const YAML::Node written = map.optional("cache_write_input");
  if (input.IsDefined()) price.input = read_price(input, diag, "input").value_or(price.input);
  if (output.IsDefined()) price.output = read_price(output, diag, "output").value_or(price.output);
  // Providers without prompt caching bill cached tokens as ordinary input.
  price.cached_input = cached.IsDefined()
                           ? read_price(cached, diag, "cached_input").value_or(price.input)
                           : price.input;
  // Providers that do not bill cache writes apart bill them as ordinary input.
  price.cache_write_input =
      written.IsDefined() ? read_price(written, diag, "cache_write_input").value_or(price.input)
                          : price.input;
  if (!flex_allowed) return price;
  if (const YAML::Node flex = map.optional("flex"); flex.IsDefined()) {
    if (endpoint.provider.kind != Provider::openai) {
      diag.error(flex,
                 "flex prices apply to provider openai endpoints (OpenAI's service_tier: "
                 "flex); endpoint '" +
                     endpoint.name + "' is provider " + to_string(endpoint.provider.kind));
    } else if (auto flex_price = read_model_price(flex, diag, "flex pricing of '" + model + "'",
                                                  false, endpoint, model)) {
      endpoint.flex_pricing.emplace(model, *flex_price);
    }
  }
  return price;
}

void read_pricing(const YAML::Node& node, Diagnostics& diag, Endpoint& endpoint) {
  if (!node.IsMap()) {
    diag.error(node, "pricing must map upstream model names to {input, output} prices");
    return;
  }
  for (const auto& entry : node) {
    const std::string model = entry.first.Scalar();
    if (auto price = read_model_price(entry.second, diag, "pricing of '" + model + "'", true,
                                      endpoint, model)) {
      endpoint.pricing.emplace(model, *price);
    }
  }
}

void read_headroom(const YAML::Node& node, Diagnostics& diag, const Config& config,
                   Endpoint& endpoint) {
  MapReader map(node, diag, "headroom");
  if (!map.valid()) return;
  const YAML::Node fraction = map.required("fraction");
  if (fraction.IsDefined()) {
    const auto value = read_number(fraction, diag, "headroom.fraction");
    if (value && (*value < 0 || *value >= 1)) {
      diag.error(fraction, "headroom.fraction must be at least 0 and below 1");
    } else if (value) {
      endpoint.headroom.fraction = *value;
    }
  }
  const YAML::Node reserved = map.optional("reserved_for");
  for (const YAML::Node& item : list_of(reserved)) {
    if (auto index = slo_class_at(item, diag, config)) {
      endpoint.headroom.reserved_for.push_back(*index);
    }
  }
  if (!reserved.IsDefined()) {
    // Reserved for the most important class(es) unless said otherwise.
    int top = config.slo_classes.front().priority;
    for (const auto& slo : config.slo_classes) top = std::max(top, slo.priority);
    for (std::size_t i = 0; i < config.slo_classes.size(); ++i) {
      if (config.slo_classes[i].priority == top) endpoint.headroom.reserved_for.push_back(i);
    }
  }
}

// apis: [chat, completions, embeddings, responses]: what the endpoint can be sent.
void read_apis(const YAML::Node& node, Diagnostics& diag, Endpoint& endpoint) {
  if (!node.IsSequence() || node.size() == 0) {
    diag.error(node,
               "apis must be a non-empty list of chat, completions, embeddings, responses, "
               "messages");
    return;
  }
  endpoint.apis = 0;
  for (const YAML::Node& item : node) {
    const auto name = read_string(item, diag, "an api");
    if (!name) continue;
    bool known = false;
    for (Api api : {Api::chat, Api::completions, Api::embeddings, Api::responses, Api::messages}) {
      if (*name == to_string(api)) {
        endpoint.apis |= static_cast<std::uint8_t>(api);
        known = true;
      }
    }
    if (!known) {
      diag.error(item, "unknown api '" + *name +
                           "': chat, completions, embeddings, responses or messages");
    }
  }
}

// The APIs a provider's wire can carry. Anthropic's Messages API has no completions,
// embeddings or Responses; Gemini's OpenAI-compatible endpoint has chat and embeddings;
// Bedrock carries chat (Converse) and Anthropic's Messages (InvokeModel, Claude models only).
std::uint8_t apis_of(Provider provider) {
  switch (provider) {
    case Provider::bedrock:
    case Provider::anthropic:
      return static_cast<std::uint8_t>(Api::chat) | static_cast<std::uint8_t>(Api::messages);
    case Provider::gemini:
      return static_cast<std::uint8_t>(Api::chat) | static_cast<std::uint8_t>(Api::embeddings);
    case Provider::openai:
    case Provider::azure:
      break;
  }
  return kAllApis;
}

// What an endpoint serves unless its `apis` says otherwise: all its provider can carry, but
// Messages on Bedrock, which only Claude models take: an endpoint opts in with
// `apis: [chat, messages]`.
std::uint8_t default_apis_of(Provider provider) {
  if (provider == Provider::bedrock) return static_cast<std::uint8_t>(Api::chat);
  return apis_of(provider);
}

// "bedrock-runtime.us-east-1.amazonaws.com" → "us-east-1"; "" for any other host.
std::string region_of_host(std::string_view host) {
  constexpr std::string_view kPrefix = "bedrock-runtime.";
  constexpr std::string_view kSuffix = ".amazonaws.com";
  if (!host.starts_with(kPrefix) || !host.ends_with(kSuffix)) return {};
  host.remove_prefix(kPrefix.size());
  host.remove_suffix(kSuffix.size());
  return host.find('.') == std::string_view::npos ? std::string(host) : std::string();
}

// provider: bedrock's region and credentials. A Bedrock API key (api_key_env) is sent as a
// bearer token; without one, requests are signed with SigV4 from AWS credentials in the
// environment, read once at load (a reload reads them again).
void read_aws(MapReader& map, Diagnostics& diag, const EnvLookup& env, Endpoint& endpoint) {
  ProviderSettings& p = endpoint.provider;
  const bool bedrock = p.kind == Provider::bedrock;
  const YAML::Node region = map.optional("region");
  const YAML::Node names[] = {map.optional("aws_access_key_id_env"),
                              map.optional("aws_secret_access_key_env"),
                              map.optional("aws_session_token_env")};
  if (!bedrock) {
    for (const YAML::Node& node : {region, names[0], names[1], names[2]}) {
      if (node.IsDefined()) diag.error(node, "this setting applies to provider bedrock only");
    }
    return;
  }
  if (region.IsDefined()) {
    const auto text = read_string(region, diag, "region");
    const bool plain =
        text && !text->empty() && std::all_of(text->begin(), text->end(), [](char c) {
          return std::islower(static_cast<unsigned char>(c)) ||
                 std::isdigit(static_cast<unsigned char>(c)) || c == '-';
        });
    if (text && !plain) diag.error(region, "region must look like us-east-1");
    if (plain) p.aws_region = *text;
  } else {
    p.aws_region = region_of_host(endpoint.base_url.host);
    if (p.aws_region.empty()) {
      diag.error(map.node(),
                 "provider bedrock needs region (it is not in the base_url's host "
                 "bedrock-runtime.{region}.amazonaws.com)");
    }
  }
  if (!endpoint.api_key_env.empty()) {
    for (const YAML::Node& node : names) {
      if (node.IsDefined()) {
        diag.error(node,
                   "an endpoint with api_key_env (a Bedrock API key) is not signed with "
                   "AWS credentials: remove one of the two");
      }
    }
    return;
  }
  const char* defaults[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
  const char* settings[] = {"aws_access_key_id_env", "aws_secret_access_key_env",
                            "aws_session_token_env"};
  core::Secret* into[] = {&p.aws_access_key_id, &p.aws_secret_access_key, &p.aws_session_token};
  bool key_vars_renamed = false;
  for (std::size_t i = 0; i < 3; ++i) {
    // AWS_SESSION_TOKEN belongs to the AWS_* keys: with keys named elsewhere, a token is read
    // only from a variable named too (another credential's token would break every signature).
    std::string var = defaults[i];
    if (names[i].IsDefined()) var = read_string(names[i], diag, settings[i]).value_or(var);
    if (i < 2) key_vars_renamed = key_vars_renamed || var != defaults[i];
    if (i == 2 && !names[2].IsDefined() && key_vars_renamed) break;
    const YAML::Node& where = names[i].IsDefined() ? names[i] : map.node();
    // The session token belongs to temporary (STS) credentials only.
    if (auto value = read_env_secret(env, var, where, diag, settings[i], i < 2)) {
      *into[i] = std::move(*value);
    }
  }
}

// provider: and the settings only some providers take; each setting is refused on an endpoint
// whose provider would ignore it.
void read_provider(MapReader& map, Diagnostics& diag, const EnvLookup& env, Endpoint& endpoint) {
  ProviderSettings& p = endpoint.provider;
  if (const YAML::Node kind = map.optional("provider"); kind.IsDefined()) {
    const auto text = read_string(kind, diag, "provider");
    bool known = false;
    for (Provider candidate : {Provider::openai, Provider::azure, Provider::gemini,
                               Provider::anthropic, Provider::bedrock}) {
      if (text == to_string(candidate)) {
        p.kind = candidate;
        known = true;
      }
    }
    if (text && !known) {
      diag.error(kind,
                 "unknown provider '" + *text + "': openai, azure, gemini, anthropic or bedrock");
    }
  }
  const auto only_for = [&](const YAML::Node& node, Provider provider, std::string_view key) {
    if (p.kind == provider) return true;
    diag.error(node, std::string(key) + " applies to provider " + to_string(provider) + " only");
    return false;
  };
  if (const YAML::Node version = map.optional("api_version"); version.IsDefined()) {
    if (only_for(version, Provider::azure, "api_version")) {
      const auto text = read_string(version, diag, "api_version");
      const bool plain =
          text && !text->empty() && std::all_of(text->begin(), text->end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
          });
      if (text && !plain) diag.error(version, "api_version must look like 2024-10-21");
      if (plain) p.api_version = *text;
    }
  }
  if (const YAML::Node auth = map.optional("auth"); auth.IsDefined()) {
    if (only_for(auth, Provider::azure, "auth")) {
      const auto text = read_string(auth, diag, "auth");
      if (text == "entra") {
        p.entra_token = true;
      } else if (text != "api_key" && text) {
        diag.error(auth, "auth must be 'api_key' (the api-key header) or 'entra' (a bearer token)");
      }
    }
  }
  if (const YAML::Node version = map.optional("anthropic_version"); version.IsDefined()) {
    if (only_for(version, Provider::anthropic, "anthropic_version")) {
      const auto text = read_string(version, diag, "anthropic_version");
      if (text == "2023-06-01" || text == "2026-10-21") {
        p.anthropic_version = *text;
      } else if (text) {
        diag.error(version, "anthropic_version must be 2023-06-01 or 2026-10-21");
      }
    }
  }
  // Converse takes no max_tokens as "the model's maximum"; Anthropic requires one.
  if (p.kind == Provider::bedrock) p.default_max_tokens = 0;
  if (const YAML::Node max = map.optional("max_tokens"); max.IsDefined()) {
    if (p.kind == Provider::bedrock || only_for(max, Provider::anthropic, "max_tokens")) {
      const auto value = read_unsigned(max, diag, "max_tokens");
      if (value && (*value == 0 || *value > 1000000)) {
        diag.error(max, "max_tokens must be between 1 and 1000000");
      } else if (value) {
        p.default_max_tokens = static_cast<unsigned>(*value);
      }
    }
  }
  if (const YAML::Node unsupported = map.optional("unsupported_params"); unsupported.IsDefined()) {
    if (only_for(unsupported, Provider::anthropic, "unsupported_params")) {
      const auto text = read_string(unsupported, diag, "unsupported_params");
      if (text == "reject") {
        p.reject_unsupported = true;
      } else if (text != "drop" && text) {
        diag.error(unsupported, "unsupported_params must be 'drop' (with a warning) or 'reject'");
      }
    }
  }
  read_aws(map, diag, env, endpoint);
  endpoint.apis = default_apis_of(p.kind);
  // Anthropic's base URL is the host: the paths carry /v1 themselves.
  if (p.kind == Provider::anthropic && endpoint.base_url.path.ends_with("/v1")) {
    diag.error(map.node(),
               "provider anthropic takes base_url without /v1, e.g. "
               "https://api.anthropic.com");
  }
  if (p.entra_token && endpoint.api_key_env.empty()) {
    diag.error(map.node(),
               "auth: entra needs api_key_env naming the variable that holds the token");
  }
}

void read_cold_start(const YAML::Node& node, Diagnostics& diag, Endpoint& endpoint) {
  MapReader map(node, diag, "cold_start");
  if (!map.valid()) return;
  ColdStart cold;
  for (auto [key, field] :
       {std::pair{"after_idle", &cold.after_idle}, {"p50", &cold.p50}, {"p95", &cold.p95}}) {
    const YAML::Node value = map.optional(key);
    if (!value.IsDefined()) continue;
    if (auto d = read_positive_duration(value, diag, key)) *field = *d;
  }
  if (cold.p95 < cold.p50) diag.error(node, "cold_start.p95 must be at least p50");
  endpoint.cold_start = cold;
}

void read_prewarm(const YAML::Node& node, Diagnostics& diag, Endpoint& endpoint) {
  // `prewarm: {auto: true, ...}` is a list of one.
  const bool single = node.IsMap();
  if (!node.IsSequence() && !single) {
    diag.error(node,
               "prewarm must be a list of {cron, until or for, tz, model, every, timeout} or "
               "{auto: true, model, every, timeout}");
    return;
  }
  std::vector<YAML::Node> items;
  if (single) {
    items.push_back(node);
  } else {
    for (const YAML::Node& item : node) items.push_back(item);
  }
  for (const YAML::Node& item : items) {
    MapReader map(item, diag, "a prewarm window");
    if (!map.valid()) continue;
    Prewarm prewarm;
    bool ok = true;
    if (const YAML::Node automatic = map.optional("auto"); automatic.IsDefined()) {
      const auto text = read_string(automatic, diag, "auto");
      if (!text) continue;
      if (*text != "true" && *text != "false") {
        diag.error(automatic, "prewarm auto must be true or false");
        continue;  // neither kind of prewarm: nothing more to say about it
      }
      prewarm.automatic = text == "true";
      if (prewarm.automatic && !endpoint.cold_start) {
        diag.error(automatic, "prewarm auto warms a cold start ahead: it needs cold_start");
        ok = false;
      }
    }
    const YAML::Node cron = prewarm.automatic ? map.optional("cron") : map.required("cron");
    if (prewarm.automatic && cron.IsDefined()) {
      diag.error(cron, "prewarm auto has no window: leave out cron");
      ok = false;
    } else if (cron.IsDefined()) {
      const auto text = read_string(cron, diag, "cron");
      auto schedule = text ? core::CronSchedule::parse(*text) : std::nullopt;
      if (schedule) {
        prewarm.window.start = std::move(*schedule);
      } else {
        if (text) diag.error(cron, "cron must have five fields: minute hour day month weekday");
        ok = false;
      }
    }
    const YAML::Node until = map.optional("until");
    const YAML::Node length = map.optional("for");
    if (prewarm.automatic) {
      if (until.IsDefined() || length.IsDefined() || map.optional("tz").IsDefined()) {
        diag.error(item, "prewarm auto has no window: leave out until, for and tz");
        ok = false;
      }
    } else if (until.IsDefined() == length.IsDefined()) {
      diag.error(item, "a prewarm window needs exactly one of until (HH:MM) or for (a duration)");
      ok = false;
    } else if (until.IsDefined()) {
      const auto text = read_string(until, diag, "until");
      prewarm.window.until_minute = text ? core::parse_time_of_day(*text) : std::nullopt;
      if (!prewarm.window.until_minute) {
        if (text) diag.error(until, "until must be a time of day, HH:MM");
        ok = false;
      }
    } else if (auto d = read_positive_duration(length, diag, "for")) {
      prewarm.window.length = *d;
    } else {
      ok = false;
    }
    if (const YAML::Node tz = map.optional("tz"); tz.IsDefined()) {
      const auto name = read_string(tz, diag, "tz");
      auto zone = name ? core::TimeZone::load(*name) : std::nullopt;
      if (zone) {
        prewarm.window.zone = std::move(*zone);
      } else {
        if (name) diag.error(tz, "unknown time zone '" + *name + "'");
        ok = false;
      }
    }
    if (const YAML::Node model = map.optional("model"); model.IsDefined()) {
      prewarm.model = read_string(model, diag, "model").value_or("");
    } else if (!endpoint.pricing.empty()) {
      prewarm.model = endpoint.pricing.begin()->first;
    } else {
      diag.error(item, "prewarm needs model: the upstream model to send keep-warm requests to");
      ok = false;
    }
    // Often enough that the endpoint never idles long enough to scale to zero.
    prewarm.every = endpoint.cold_start ? endpoint.cold_start->after_idle / 2
                                        : core::Duration(std::chrono::seconds(60));
    if (const YAML::Node every = map.optional("every"); every.IsDefined()) {
      if (auto d = read_positive_duration(every, diag, "every")) prewarm.every = *d;
    }
    if (const YAML::Node timeout = map.optional("timeout"); timeout.IsDefined()) {
      if (auto d = read_positive_duration(timeout, diag, "timeout")) prewarm.timeout = *d;
    }
    if (ok) endpoint.prewarm.push_back(std::move(prewarm));
  }
}

// endpoints.*.load: where the serving engine reports its own load.
void read_engine_load(const YAML::Node& node, Diagnostics& diag, Endpoint& endpoint) {
  MapReader map(node, diag, "load");
  if (!map.valid()) return;
  EngineLoadSource load;
  const YAML::Node url = map.required("metrics_url");
  if (url.IsDefined()) {
    const auto text = read_string(url, diag, "load.metrics_url");
    const auto parsed = text ? core::parse_url(*text) : std::nullopt;
    if (text && !parsed) diag.error(url, "load.metrics_url must be an http:// URL");
    if (parsed && parsed->tls)
      diag.error(url, "load.metrics_url must be http://: engines serve /metrics in plain HTTP");
    if (parsed) load.metrics_url = *parsed;
  }
  if (const YAML::Node format = map.optional("format"); format.IsDefined()) {
    const auto text = read_string(format, diag, "load.format");
    if (text == "vllm") {
      load.format = EngineFormat::vllm;
    } else if (text == "sglang") {
      load.format = EngineFormat::sglang;
    } else if (text == "tgi") {
      load.format = EngineFormat::tgi;
    } else if (text) {
      diag.error(format, "load.format must be vllm, sglang or tgi");
    }
  }
  if (const YAML::Node interval = map.optional("interval"); interval.IsDefined()) {
    if (auto d = read_positive_duration(interval, diag, "load.interval")) load.interval = *d;
  }
  if (const YAML::Node stale = map.optional("stale_after"); stale.IsDefined()) {
    if (auto d = read_positive_duration(stale, diag, "load.stale_after")) load.stale_after = *d;
  }
  if (load.stale_after <= load.interval) {
    diag.error(node, "load.stale_after must be longer than load.interval");
  }
  endpoint.load = std::move(load);
}

void read_endpoint_policy(MapReader& map, Diagnostics& diag, const Config& config,
                          Endpoint& endpoint) {
  const bool provisioned = endpoint.kind == EndpointKind::provisioned;
  if (const YAML::Node load = map.optional("load"); load.IsDefined()) {
    if (!provisioned) diag.error(load, "load applies to provisioned endpoints only");
    read_engine_load(load, diag, endpoint);
  }
  if (const YAML::Node headroom = map.optional("headroom"); headroom.IsDefined()) {
    if (!provisioned) diag.error(headroom, "headroom applies to provisioned endpoints only");
    if (endpoint.capacity.max_concurrency == 0) {
      diag.error(headroom, "headroom needs capacity.max_concurrency");
    }
    read_headroom(headroom, diag, config, endpoint);
  }
  if (const YAML::Node apis = map.optional("apis"); apis.IsDefined()) {
    read_apis(apis, diag, endpoint);
    for (Api api : {Api::chat, Api::completions, Api::embeddings, Api::responses, Api::messages}) {
      if (endpoint.serves(api) &&
          (apis_of(endpoint.provider.kind) & static_cast<std::uint8_t>(api)) == 0) {
        diag.error(apis, std::string("provider ") + to_string(endpoint.provider.kind) +
                             " cannot serve " + to_string(api));
      }
    }
  }
  if (const YAML::Node on_429 = map.optional("on_429"); on_429.IsDefined()) {
    const auto text = read_string(on_429, diag, "on_429");
    if (text == "spill") {
      endpoint.spill_on_429 = true;
    } else if (text != "fail" && text) {
      diag.error(on_429, "on_429 must be 'spill' (full, not broken) or 'fail'");
    }
  }
  if (const YAML::Node cold = map.optional("cold_start"); cold.IsDefined()) {
    if (provisioned) diag.error(cold, "cold_start applies to serverless endpoints only");
    read_cold_start(cold, diag, endpoint);
  }
  if (const YAML::Node prewarm = map.optional("prewarm"); prewarm.IsDefined()) {
    read_prewarm(prewarm, diag, endpoint);
    if (!endpoint.serves(Api::chat)) {
      diag.error(prewarm, "prewarm sends a one-token chat completion, but apis leaves out chat");
    }
  }
  if (const YAML::Node latency = map.optional("latency"); latency.IsDefined()) {
    MapReader l(latency, diag, "latency");
    if (const YAML::Node ttft = l.optional("ttft"); ttft.IsDefined()) {
      if (auto d = read_duration(ttft, diag, "latency.ttft")) endpoint.latency.ttft = *d;
    }
    if (const YAML::Node tpot = l.optional("per_output_token"); tpot.IsDefined()) {
      if (auto d = read_duration(tpot, diag, "latency.per_output_token")) {
        endpoint.latency.seconds_per_output_token = std::chrono::duration<double>(*d).count();
      }
    }
  }
  if (const YAML::Node breaker = map.optional("circuit_breaker"); breaker.IsDefined()) {
    MapReader b(breaker, diag, "circuit_breaker");
    if (const YAML::Node failures = b.optional("failures"); failures.IsDefined()) {
      const auto value = read_unsigned(failures, diag, "circuit_breaker.failures");
      if (value && *value == 0) diag.error(failures, "circuit_breaker.failures must be above 0");
      if (value && *value > 0) endpoint.circuit_breaker.failures = static_cast<unsigned>(*value);
    }
    if (const YAML::Node cooldown = b.optional("cooldown"); cooldown.IsDefined()) {
      if (auto d = read_positive_duration(cooldown, diag, "circuit_breaker.cooldown")) {
        endpoint.circuit_breaker.cooldown = *d;
      }
    }
  }
}

std::optional<Endpoint> read_endpoint(const std::string& name, const YAML::Node& name_node,
                                      const YAML::Node& node, Diagnostics& diag,
                                      const EnvLookup& env, const Config& config) {
  if (!is_endpoint_name(name)) {
    diag.error(name_node, "endpoint name '" + name + "' must match [a-z0-9_-]+");
  }
  MapReader map(node, diag, "endpoint '" + name + "'");
  if (!map.valid()) return std::nullopt;
  Endpoint endpoint;
  endpoint.name = name;

  const YAML::Node kind = map.required("kind");
  if (kind.IsDefined()) {
    const auto text = read_string(kind, diag, "kind");
    if (text == "serverless") {
      endpoint.kind = EndpointKind::serverless;
    } else if (text == "provisioned") {
      endpoint.kind = EndpointKind::provisioned;
    } else if (text) {
      diag.error(kind, "kind must be 'serverless' or 'provisioned', not '" + *text + "'");
    }
  }
  const bool provisioned = endpoint.kind == EndpointKind::provisioned;

  const YAML::Node base_url = map.required("base_url");
  if (base_url.IsDefined()) {
    if (auto text = read_string(base_url, diag, "base_url")) {
      if (auto url = core::parse_url(*text)) {
        endpoint.base_url = *url;
      } else {
        diag.error(base_url,
                   "base_url must be an http:// or https:// URL without query or "
                   "credentials, e.g. https://api.openai.com/v1");
      }
    }
  }

  const YAML::Node key_env = map.optional("api_key_env");
  if (key_env.IsDefined()) {
    if (auto var = read_string(key_env, diag, "api_key_env")) {
      endpoint.api_key_env = *var;
      if (auto value = read_env_secret(env, *var, key_env, diag, "api_key_env", true)) {
        endpoint.api_key = std::move(*value);
      }
    }
  }

  const YAML::Node hourly = map.optional("hourly_usd");
  if (hourly.IsDefined()) {
    if (!provisioned) diag.error(hourly, "hourly_usd applies to provisioned endpoints only");
    endpoint.hourly_usd = read_number(hourly, diag, "hourly_usd").value_or(0);
  } else if (provisioned) {
    diag.error(node, "provisioned endpoint '" + name + "' needs hourly_usd");
  }
  // Not `pricing.commitments`: under an endpoint `pricing` maps upstream model names to
  // per-token prices, and a model may be called anything.
  if (const YAML::Node commitments = map.optional("commitments"); commitments.IsDefined()) {
    if (provisioned) {
      read_commitments(commitments, diag, endpoint);
    } else {
      diag.error(commitments, "commitments apply to provisioned endpoints only");
    }
  }

  const YAML::Node capacity = map.optional("capacity");
  if (capacity.IsDefined()) {
    MapReader cap(capacity, diag, "capacity");
    read_into(cap.optional("max_concurrency"), endpoint.capacity.max_concurrency,
              [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_concurrency"); });
    read_into(cap.optional("max_waiting"), endpoint.capacity.max_waiting,
              [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_waiting"); });
    read_into(
        cap.optional("output_tokens_per_second"), endpoint.capacity.output_tokens_per_second,
        [&](const YAML::Node& n) { return read_number(n, diag, "output_tokens_per_second"); });
    const YAML::Node weight = cap.optional("input_token_weight");
    if (weight.IsDefined()) {
      const auto value = read_number(weight, diag, "input_token_weight");
      if (value && *value > 1) {
        diag.error(weight, "input_token_weight is a fraction of an output token: 0 to 1");
      } else if (value) {
        endpoint.capacity.input_token_weight = *value;
      }
    }
  }

  const YAML::Node timeouts = map.optional("timeouts");
  if (timeouts.IsDefined()) {
    TimeoutOverrides set;
    read_timeout_overrides(timeouts, diag, set);
    endpoint.timeouts = endpoint.timeouts.with(set);
  }

  read_provider(map, diag, env, endpoint);
  // The price catalog keys Azure's and Gemini's rows by provider; Anthropic's are unprefixed.
  if (endpoint.provider.kind == Provider::azure) endpoint.catalog_prefix = "azure/";
  if (endpoint.provider.kind == Provider::gemini) endpoint.catalog_prefix = "gemini/";
  if (const YAML::Node prefix = map.optional("catalog_prefix"); prefix.IsDefined()) {
    if (provisioned) diag.error(prefix, "catalog_prefix applies to serverless endpoints only");
    endpoint.catalog_prefix = read_string(prefix, diag, "catalog_prefix").value_or("");
  }
  const YAML::Node pricing = map.optional("pricing");
  if (pricing.IsDefined()) {
    if (provisioned) {
      diag.error(pricing,
                 "pricing applies to serverless endpoints; provisioned ones use hourly_usd");
    } else {
      read_pricing(pricing, diag, endpoint);
    }
  }
  read_endpoint_policy(map, diag, config, endpoint);
  return endpoint;
}

}  // namespace

// Builds a Config from a parsed document; a friend of Config to fill its alias index.
class Builder {
 public:
  Builder(Diagnostics& diag, const EnvLookup& env) : diag_(diag), env_(env) {}

  Config build(const YAML::Node& root) {
    Config config;
    config.source = diag_.file();
    MapReader map(root, diag_, "the configuration");
    if (!map.valid()) return config;

    const YAML::Node version = map.required("version");
    if (version.IsDefined() && !(version.IsScalar() && version.Scalar() == "1")) {
      diag_.error(version, "version must be 1");
    }
    const YAML::Node server = map.optional("server");
    if (server.IsDefined()) read_server(server, diag_, env_, config.server);

    // Order matters: endpoints name classes, aliases name endpoints and tiers, routes name
    // all of them.
    read_slo_classes(map.optional("slo_classes"), diag_, config);
    read_classifiers(map.optional("classifiers"), diag_, config);
    catalog_ = read_price_catalog(map.optional("pricing"), diag_, config);
    const YAML::Node endpoints = map.required("endpoints");
    if (endpoints.IsDefined()) read_endpoints(endpoints, config);
    const YAML::Node models = map.required("models");
    if (models.IsDefined()) read_models(models, config);
    read_routes(map.optional("routes"), diag_, config);
    read_retry_budget(map.optional("retry_budget"), diag_, config);
    read_ledger(map.optional("ledger"), diag_, env_, config);
    read_state(map.optional("state"), diag_, env_, config);
    read_auth(map.optional("auth"), diag_, config);
    read_keys(map.optional("keys"), diag_, config);
    read_budgets(map.optional("budgets"), diag_, config);
    read_reports(map.optional("reports"), diag_, config);
    return config;
  }

 private:
  // An alias as written: its own targets and references to other aliases, in order.
  struct Entry {
    std::optional<Target> target;
    std::size_t alias = 0;  // when !target
    YAML::Node node;
  };
  struct Pending {
    std::vector<Entry> entries;
    std::vector<std::pair<std::size_t, YAML::Node>> tiers;  // tier alias by tier index
  };

  void read_endpoints(const YAML::Node& node, Config& config) {
    if (!node.IsMap() || node.size() == 0) {
      diag_.error(node, "endpoints must map endpoint names to their settings");
      return;
    }
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) continue;
      if (auto endpoint =
              read_endpoint(entry.first.Scalar(), entry.first, entry.second, diag_, env_, config)) {
        config.endpoints.push_back(std::move(*endpoint));
      }
    }
  }

  void read_models(const YAML::Node& node, Config& config) {
    if (!node.IsMap() || node.size() == 0) {
      diag_.error(node, "models must map client-facing aliases to their targets");
      return;
    }
    // Names first, so an alias may name another defined below it.
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) continue;
      const std::string name = entry.first.Scalar();
      if (!is_alias_name(name)) {
        diag_.error(entry.first,
                    "model alias '" + name + "' must be printable ASCII without spaces");
      }
      config.alias_index_.emplace(name, config.models.size());
      config.models.push_back(ModelAlias{name, {}, false, {}});
    }
    std::vector<Pending> pending(config.models.size());
    std::size_t index = 0;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) continue;
      read_alias(entry.second, config, config.models[index], pending[index]);
      ++index;
    }
    std::vector<int> state(config.models.size(), 0);  // 0 new, 1 resolving, 2 done
    for (std::size_t i = 0; i < config.models.size(); ++i) resolve(i, config, pending, state);
  }

  void read_alias(const YAML::Node& node, Config& config, ModelAlias& alias, Pending& out) {
    MapReader map(node, diag_, "model '" + alias.name + "'");
    if (!map.valid()) return;
    const YAML::Node classify = map.optional("classify");
    if (classify.IsDefined()) {
      alias.classify = true;
      if (read_string(classify, diag_, "classify").value_or("complexity") != "complexity") {
        diag_.error(classify, "classify must be 'complexity', the only classifier");
      }
      if (map.optional("targets").IsDefined()) {
        diag_.error(node, "a classifying alias routes by tier and has no targets of its own");
      }
      const YAML::Node tiers = map.required("tiers");
      if (!tiers.IsDefined()) return;
      if (!tiers.IsMap()) {
        diag_.error(tiers, "tiers must map each classifier tier to a model alias");
        return;
      }
      const Classifier& classifier = config.classifier;
      std::vector<bool> covered(classifier.tiers.size(), false);
      for (const auto& entry : tiers) {
        const std::string tier = entry.first.Scalar();
        const auto at = std::find_if(classifier.tiers.begin(), classifier.tiers.end(),
                                     [&](const auto& t) { return t.name == tier; });
        if (at == classifier.tiers.end()) {
          diag_.error(entry.first, "unknown classifier tier '" + tier + "'");
          continue;
        }
        const auto tier_index = static_cast<std::size_t>(at - classifier.tiers.begin());
        covered[tier_index] = true;
        const auto target = read_string(entry.second, diag_, "a tier's alias");
        if (!target) continue;
        const ModelAlias* named = config.find_alias(*target);
        if (named == nullptr) {
          diag_.error(entry.second,
                      "tier '" + tier + "' names unknown model alias '" + *target + "'");
          continue;
        }
        out.tiers.emplace_back(tier_index, entry.second);
        alias.tier_alias.resize(classifier.tiers.size(), 0);
        alias.tier_alias[tier_index] = static_cast<std::size_t>(named - config.models.data());
      }
      for (std::size_t t = 0; t < covered.size(); ++t) {
        if (!covered[t]) {
          diag_.error(tiers, "tier '" + classifier.tiers[t].name + "' names no model alias");
        }
      }
      return;
    }
    const YAML::Node targets = map.required("targets");
    if (!targets.IsDefined()) return;
    if (!targets.IsSequence() || targets.size() == 0) {
      diag_.error(targets, "targets must be a non-empty list of endpoint/upstream-model");
      return;
    }
    for (const auto& target : targets) read_target(target, config, out);
  }

  void read_target(const YAML::Node& node, const Config& config, Pending& out) {
    std::string endpoint_name;
    std::string upstream_model;
    double weight = 1;
    if (node.IsMap()) {
      MapReader map(node, diag_, "a target");
      if (const YAML::Node alias = map.optional("alias"); alias.IsDefined()) {
        add_alias_reference(alias, config, out);
        return;
      }
      const YAML::Node endpoint = map.required("endpoint");
      const YAML::Node model = map.required("model");
      // Claimed before any early return: a missing endpoint must not make weight "unknown".
      const YAML::Node w = map.optional("weight");
      if (!endpoint.IsDefined() || !model.IsDefined()) return;
      endpoint_name = read_string(endpoint, diag_, "endpoint").value_or("");
      upstream_model = read_string(model, diag_, "model").value_or("");
      if (w.IsDefined()) {
        const auto value = read_number(w, diag_, "weight");
        if (value && !(*value > 0)) diag_.error(w, "weight must be positive");
        if (value && *value > 0) weight = *value;
      }
    } else {
      const auto text = read_string(node, diag_, "a target");
      if (!text) return;
      const auto slash = text->find('/');
      const bool names_endpoint =
          slash != std::string::npos && config.find_endpoint(text->substr(0, slash));
      if (!names_endpoint && config.find_alias(*text) != nullptr) {
        add_alias_reference(node, config, out);
        return;
      }
      if (slash == std::string::npos || slash == 0 || slash + 1 == text->size()) {
        diag_.error(node, "target '" + *text + "' must be endpoint/upstream-model or an alias");
        return;
      }
      endpoint_name = text->substr(0, slash);
      upstream_model = text->substr(slash + 1);
    }
    Target target;
    target.upstream_model = upstream_model;
    target.weight = weight;
    const auto index = config.find_endpoint(endpoint_name);
    if (!index) {
      diag_.error(node, "target '" + endpoint_name + "/" + upstream_model +
                            "' names unknown endpoint '" + endpoint_name + "'");
      return;
    }
    target.endpoint = *index;
    const Endpoint& endpoint = config.endpoints[*index];
    if (endpoint.kind == EndpointKind::serverless) {
      // YAML prices win over the catalog's.
      const auto price = endpoint.pricing.find(target.upstream_model);
      const std::string catalog_name = endpoint.catalog_prefix + target.upstream_model;
      if (price != endpoint.pricing.end()) {
        target.price = price->second;
        if (const auto flex = endpoint.flex_pricing.find(target.upstream_model);
            flex != endpoint.flex_pricing.end()) {
          target.flex_price = flex->second;
        }
      } else if (const auto listed = catalog_ ? catalog_->find(catalog_name) : std::nullopt) {
        target.price = *listed;
      } else {
        diag_.error(node, "serverless endpoint '" + endpoint_name + "' has no price for model '" +
                              target.upstream_model + "' (add it under pricing" +
                              (catalog_ ? ", or to the catalog as '" + catalog_name + "'" : "") +
                              ")");
        return;
      }
    }
    out.entries.push_back({std::move(target), 0, node});
  }

  void add_alias_reference(const YAML::Node& node, const Config& config, Pending& out) {
    const auto name = read_string(node, diag_, "alias");
    if (!name) return;
    const ModelAlias* alias = config.find_alias(*name);
    if (alias == nullptr) {
      diag_.error(node, "target names unknown model alias '" + *name + "'");
      return;
    }
    out.entries.push_back(
        {std::nullopt, static_cast<std::size_t>(alias - config.models.data()), node});
  }

  // Splices referenced aliases' targets in place, depth first; a reference back to an alias
  // still being resolved is a cycle.
  void resolve(std::size_t index, Config& config, std::vector<Pending>& pending,
               std::vector<int>& state) {
    if (state[index] != 0) return;
    state[index] = 1;
    ModelAlias& alias = config.models[index];
    for (auto& [tier, node] : pending[index].tiers) {
      const std::size_t named = alias.tier_alias[tier];
      resolve(named, config, pending, state);
      if (config.models[named].classify) {
        diag_.error(node, "tier alias '" + config.models[named].name +
                              "' classifies too; tiers must name aliases with targets");
      }
    }
    std::vector<Target> targets;
    // The first mention of an endpoint/model pair wins; later ones would only retry it.
    const auto add = [&targets](const Target& target) {
      const bool duplicate = std::any_of(targets.begin(), targets.end(), [&](const Target& t) {
        return t.endpoint == target.endpoint && t.upstream_model == target.upstream_model;
      });
      if (!duplicate) targets.push_back(target);
    };
    for (Entry& entry : pending[index].entries) {
      if (entry.target) {
        add(*entry.target);
        continue;
      }
      const ModelAlias& named = config.models[entry.alias];
      if (state[entry.alias] == 1) {
        diag_.error(entry.node,
                    "alias '" + alias.name + "' and '" + named.name + "' name each other: a cycle");
        continue;
      }
      resolve(entry.alias, config, pending, state);
      if (named.classify) {
        diag_.error(entry.node, "a target cannot name a classifying alias");
        continue;
      }
      for (const Target& target : named.targets) add(target);
    }
    alias.targets = std::move(targets);
    state[index] = 2;
  }

  Diagnostics& diag_;
  const EnvLookup& env_;
  std::optional<PriceCatalog> catalog_;
};

core::Expected<Config, std::vector<Issue>> load_string(std::string_view yaml,
                                                       const std::string& name,
                                                       const EnvLookup& env) {
  Diagnostics diag(name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    diag.error(e.mark, e.msg);
    return core::Unexpected{diag.take()};
  }
  Config config = Builder(diag, env).build(root);
  config.text = std::string(yaml);
  if (!diag.ok()) {
    auto issues = diag.take();
    std::stable_sort(issues.begin(), issues.end(), [](const Issue& a, const Issue& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return core::Unexpected{std::move(issues)};
  }
  return config;
}

core::Expected<Config, std::vector<Issue>> load_file(const std::string& path,
                                                     const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return core::Unexpected{std::vector<Issue>{Issue{path, 0, 0, "cannot read the file"}}};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_string(text.str(), path, env);
}

}  // namespace fulcrum::config
