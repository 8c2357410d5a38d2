#include "fulcrum/config/loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "yaml_reader.hpp"

namespace fulcrum::config {

const char* to_string(EndpointKind kind) {
  return kind == EndpointKind::provisioned ? "provisioned" : "serverless";
}

const ModelAlias* Config::find_alias(std::string_view name) const {
  const auto it = alias_index_.find(std::string(name));
  return it == alias_index_.end() ? nullptr : &models[it->second];
}

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

void read_server(const YAML::Node& node, Diagnostics& diag, ServerConfig& server) {
  MapReader map(node, diag, "server");
  read_host_port(map.optional("listen"), diag, "server.listen", server.listen);
  read_host_port(map.optional("admin_listen"), diag, "server.admin_listen", server.admin_listen);
  read_into(map.optional("threads"), server.threads,
            [&](const YAML::Node& n) { return read_unsigned(n, diag, "server.threads"); });
  if (server.threads > 256) {
    diag.error(map.optional("threads"), "server.threads must be at most 256");
  }
  read_into(map.optional("drain_timeout"), server.drain_timeout,
            [&](const YAML::Node& n) { return read_duration(n, diag, "server.drain_timeout"); });

  const YAML::Node limits_node = map.optional("limits");
  if (!limits_node.IsDefined()) return;
  MapReader limits(limits_node, diag, "server.limits");
  Limits& out = server.limits;
  read_into(limits.optional("max_body_bytes"), out.max_body_bytes,
            [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_body_bytes"); });
  read_into(limits.optional("max_header_bytes"), out.max_header_bytes,
            [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_header_bytes"); });
  read_into(limits.optional("header_timeout"), out.header_timeout,
            [&](const YAML::Node& n) { return read_duration(n, diag, "header_timeout"); });
  read_into(limits.optional("idle_timeout"), out.idle_timeout,
            [&](const YAML::Node& n) { return read_duration(n, diag, "idle_timeout"); });
  if (out.max_header_bytes < 1024) {
    diag.error(limits_node, "max_header_bytes must be at least 1024");
  }
}

void read_timeouts(const YAML::Node& node, Diagnostics& diag, Timeouts& out) {
  MapReader map(node, diag, "timeouts");
  for (auto [key, field] : {std::pair{"connect", &out.connect},
                            {"first_byte", &out.first_byte},
                            {"idle", &out.idle},
                            {"total", &out.total}}) {
    const YAML::Node value = map.optional(key);
    read_into(value, *field, [&](const YAML::Node& n) { return read_duration(n, diag, key); });
    if (value.IsDefined() && field->count() == 0)
      diag.error(value, std::string(key) + " must be positive");
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

void read_pricing(const YAML::Node& node, Diagnostics& diag, Endpoint& endpoint) {
  if (!node.IsMap()) {
    diag.error(node, "pricing must map upstream model names to {input, output} prices");
    return;
  }
  for (const auto& entry : node) {
    const std::string model = entry.first.Scalar();
    MapReader map(entry.second, diag, "pricing of '" + model + "'");
    if (!map.valid()) continue;
    Price price;
    const YAML::Node input = map.required("input");
    const YAML::Node output = map.required("output");
    const YAML::Node cached = map.optional("cached_input");
    if (input.IsDefined()) price.input = read_price(input, diag, "input").value_or(price.input);
    if (output.IsDefined())
      price.output = read_price(output, diag, "output").value_or(price.output);
    // Providers without prompt caching bill cached tokens as ordinary input.
    price.cached_input = cached.IsDefined()
                             ? read_price(cached, diag, "cached_input").value_or(price.input)
                             : price.input;
    endpoint.pricing.emplace(model, price);
  }
}

std::optional<Endpoint> read_endpoint(const std::string& name, const YAML::Node& name_node,
                                      const YAML::Node& node, Diagnostics& diag,
                                      const EnvLookup& env) {
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
      const char* value = env ? env(var->c_str()) : std::getenv(var->c_str());
      if (value == nullptr || *value == '\0') {
        diag.error(key_env, "environment variable " + *var + " (api_key_env) is not set");
      } else if (std::any_of(value, value + std::strlen(value), [](char c) {
                   return static_cast<unsigned char>(c) < 0x21 || c == 0x7f;
                 })) {
        // The key becomes a header value: a stray newline (a common copy-paste accident)
        // would break the request or inject a header. The message never quotes the value.
        diag.error(key_env, "environment variable " + *var +
                                " (api_key_env) contains spaces or control characters");
      } else {
        endpoint.api_key = core::Secret(value);
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

  const YAML::Node capacity = map.optional("capacity");
  if (capacity.IsDefined()) {
    MapReader cap(capacity, diag, "capacity");
    read_into(cap.optional("max_concurrency"), endpoint.capacity.max_concurrency,
              [&](const YAML::Node& n) { return read_unsigned(n, diag, "max_concurrency"); });
    read_into(
        cap.optional("output_tokens_per_second"), endpoint.capacity.output_tokens_per_second,
        [&](const YAML::Node& n) { return read_number(n, diag, "output_tokens_per_second"); });
  }

  const YAML::Node timeouts = map.optional("timeouts");
  if (timeouts.IsDefined()) read_timeouts(timeouts, diag, endpoint.timeouts);

  const YAML::Node pricing = map.optional("pricing");
  if (pricing.IsDefined()) {
    if (provisioned) {
      diag.error(pricing,
                 "pricing applies to serverless endpoints; provisioned ones use hourly_usd");
    } else {
      read_pricing(pricing, diag, endpoint);
    }
  }
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
    if (server.IsDefined()) read_server(server, diag_, config.server);

    const YAML::Node endpoints = map.required("endpoints");
    if (endpoints.IsDefined()) read_endpoints(endpoints, config);
    const YAML::Node models = map.required("models");
    if (models.IsDefined()) read_models(models, config);
    return config;
  }

 private:
  void read_endpoints(const YAML::Node& node, Config& config) {
    if (!node.IsMap() || node.size() == 0) {
      diag_.error(node, "endpoints must map endpoint names to their settings");
      return;
    }
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) continue;
      if (auto endpoint =
              read_endpoint(entry.first.Scalar(), entry.first, entry.second, diag_, env_)) {
        config.endpoints.push_back(std::move(*endpoint));
      }
    }
  }

  std::optional<std::size_t> find_endpoint(const Config& config, std::string_view name) const {
    for (std::size_t i = 0; i < config.endpoints.size(); ++i) {
      if (config.endpoints[i].name == name) return i;
    }
    return std::nullopt;
  }

  void read_models(const YAML::Node& node, Config& config) {
    if (!node.IsMap() || node.size() == 0) {
      diag_.error(node, "models must map client-facing aliases to their targets");
      return;
    }
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) continue;
      const std::string name = entry.first.Scalar();
      if (!is_alias_name(name)) {
        diag_.error(entry.first,
                    "model alias '" + name + "' must be printable ASCII without spaces");
      }
      MapReader map(entry.second, diag_, "model '" + name + "'");
      if (!map.valid()) continue;
      ModelAlias alias;
      alias.name = name;
      const YAML::Node targets = map.required("targets");
      if (targets.IsDefined()) {
        if (!targets.IsSequence() || targets.size() == 0) {
          diag_.error(targets, "targets must be a non-empty list of endpoint/upstream-model");
        } else {
          for (const auto& target : targets) read_target(target, config, alias);
        }
      }
      config.alias_index_.emplace(name, config.models.size());
      config.models.push_back(std::move(alias));
    }
  }

  void read_target(const YAML::Node& node, const Config& config, ModelAlias& alias) {
    const auto text = read_string(node, diag_, "a target");
    if (!text) return;
    const auto slash = text->find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == text->size()) {
      diag_.error(node, "target '" + *text + "' must be endpoint/upstream-model");
      return;
    }
    const std::string endpoint_name = text->substr(0, slash);
    Target target;
    target.upstream_model = text->substr(slash + 1);
    const auto index = find_endpoint(config, endpoint_name);
    if (!index) {
      diag_.error(node, "target '" + *text + "' names unknown endpoint '" + endpoint_name + "'");
      return;
    }
    target.endpoint = *index;
    const Endpoint& endpoint = config.endpoints[*index];
    if (endpoint.kind == EndpointKind::serverless) {
      const auto price = endpoint.pricing.find(target.upstream_model);
      if (price == endpoint.pricing.end()) {
        diag_.error(node, "serverless endpoint '" + endpoint_name + "' has no price for model '" +
                              target.upstream_model + "' (add it under pricing)");
        return;
      }
      target.price = price->second;
    }
    alias.targets.push_back(std::move(target));
  }

  Diagnostics& diag_;
  const EnvLookup& env_;
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
