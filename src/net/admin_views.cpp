#include "admin_views.hpp"

#include <nlohmann/json.hpp>

namespace fulcrum::net {
namespace {

using nlohmann::json;

constexpr const char* kRedacted = "[redacted]";

double seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

json price_json(const config::Price& price) {
  return {{"input", price.input.usd()},
          {"cached_input", price.cached_input.usd()},
          {"cache_write_input", price.cache_write_input.usd()},
          {"output", price.output.usd()}};
}

json endpoint_json(const config::Endpoint& e, const config::Config& config) {
  json out = {{"kind", config::to_string(e.kind)},
              {"base_url", e.base_url.to_string()},
              {"timeouts",
               {{"connect", seconds(e.timeouts.connect)},
                {"first_byte", seconds(e.timeouts.first_byte)},
                {"idle", seconds(e.timeouts.idle)},
                {"total", seconds(e.timeouts.total)}}},
              {"latency",
               {{"ttft", seconds(e.latency.ttft)},
                {"per_output_token", e.latency.seconds_per_output_token}}},
              {"circuit_breaker",
               {{"failures", e.circuit_breaker.failures},
                {"cooldown", seconds(e.circuit_breaker.cooldown)}}},
              {"on_429", e.spill_on_429 ? "spill" : "fail"}};
  if (!e.api_key_env.empty()) {
    out["api_key_env"] = e.api_key_env;
    out["api_key"] = kRedacted;
  }
  if (e.kind == config::EndpointKind::provisioned) {
    out["hourly_usd"] = e.hourly_usd;
    json reserved = json::array();
    for (std::size_t c : e.headroom.reserved_for) reserved.push_back(config.slo_classes[c].name);
    out["capacity"] = {{"max_concurrency", e.capacity.max_concurrency},
                       {"output_tokens_per_second", e.capacity.output_tokens_per_second}};
    out["headroom"] = {{"fraction", e.headroom.fraction}, {"reserved_for", reserved}};
  }
  if (!e.pricing.empty()) {
    json pricing = json::object();
    for (const auto& [model, price] : e.pricing) pricing[model] = price_json(price);
    out["pricing"] = pricing;
  }
  if (e.cold_start) {
    out["cold_start"] = {{"after_idle", seconds(e.cold_start->after_idle)},
                         {"p50", seconds(e.cold_start->p50)},
                         {"p95", seconds(e.cold_start->p95)}};
  }
  json prewarm = json::array();
  for (const auto& p : e.prewarm) {
    prewarm.push_back({{"cron", p.window.start.text()},
                       {"tz", p.window.zone.name()},
                       {"model", p.model},
                       {"every", seconds(p.every)}});
  }
  if (!prewarm.empty()) out["prewarm"] = prewarm;
  return out;
}

}  // namespace

std::string config_view(const Snapshot& snapshot) {
  const config::Config& c = snapshot.config;
  json endpoints = json::object();
  for (const auto& e : c.endpoints) endpoints[e.name] = endpoint_json(e, c);
  json models = json::object();
  for (const auto& alias : c.models) {
    json entry = json::object();
    if (alias.classify) {
      json tiers = json::object();
      for (std::size_t t = 0; t < alias.tier_alias.size(); ++t) {
        tiers[c.classifier.tiers[t].name] = c.models[alias.tier_alias[t]].name;
      }
      entry = {{"classify", "complexity"}, {"tiers", tiers}};
    } else {
      json targets = json::array();
      for (const auto& t : alias.targets) {
        targets.push_back({{"endpoint", c.endpoints[t.endpoint].name},
                           {"model", t.upstream_model},
                           {"weight", t.weight}});
      }
      entry = {{"targets", targets}};
    }
    models[alias.name] = entry;
  }
  json classes = json::object();
  for (const auto& s : c.slo_classes) {
    classes[s.name] = {{"priority", s.priority},
                       {"ttft", seconds(s.ttft)},
                       {"e2e", seconds(s.e2e)},
                       {"max_queue_wait", seconds(s.max_queue_wait)}};
  }
  json routes = json::array();
  for (const auto& r : c.routes) {
    json fallback = json::array();
    for (std::size_t a : r.fallback) fallback.push_back(c.models[a].name);
    routes.push_back({{"name", r.name},
                      {"slo", c.slo_classes[r.slo].name},
                      {"strategy", config::to_string(r.strategy)},
                      {"fallback", fallback},
                      {"retries", {{"max", r.retries.max}}}});
  }
  json keys = json::array();
  for (const auto& k : c.keys) {
    keys.push_back(
        {{"id", k.id}, {"team", k.team}, {"sha256", kRedacted}, {"rpm", k.rpm}, {"tpm", k.tpm}});
  }
  json budgets = json::array();
  for (const auto& b : c.budgets) {
    json budget = {{"name", b.name},
                   {"period", b.period == config::Budget::Period::daily ? "daily" : "monthly"},
                   {"tz", b.zone.name()}};
    if (b.soft) budget["soft_usd"] = b.soft->usd();
    if (b.hard) budget["hard_usd"] = b.hard->usd();
    budgets.push_back(budget);
  }
  json server = {{"listen", c.server.listen.host + ":" + std::to_string(c.server.listen.port)},
                 {"admin_listen",
                  c.server.admin_listen.host + ":" + std::to_string(c.server.admin_listen.port)},
                 {"threads", c.server.threads},
                 {"drain_timeout", seconds(c.server.drain_timeout)}};
  if (!c.server.admin_token_env.empty()) {
    server["admin_token_env"] = c.server.admin_token_env;
    server["admin_token"] = kRedacted;
  }
  const json document = {
      {"source", c.source},
      {"hash", snapshot.config_hash},
      {"loaded_at", snapshot.loaded_at},
      {"config",
       {{"server", server},
        {"auth", c.auth_mode == config::AuthMode::required ? "required" : "open"},
        {"slo_classes", classes},
        {"endpoints", endpoints},
        {"models", models},
        {"routes", routes},
        {"keys", keys},
        {"budgets", budgets},
        {"ledger", {{"enabled", c.ledger.enabled}, {"path", c.ledger.path}}}}}};
  return document.dump(2);
}

std::string endpoints_view(const Snapshot& snapshot) {
  const config::Config& c = snapshot.config;
  const auto now = core::Clock::now();
  json out = json::object();
  for (std::size_t i = 0; i < c.endpoints.size(); ++i) {
    const config::Endpoint& e = c.endpoints[i];
    const router::EndpointState& state = snapshot.live->endpoint(i);
    const unsigned in_flight = state.in_flight();
    const char* circuit = "closed";
    switch (state.breaker.state(now)) {
      case router::CircuitBreaker::State::closed:
        break;
      case router::CircuitBreaker::State::open:
        circuit = "open";
        break;
      case router::CircuitBreaker::State::half_open:
        circuit = "half_open";
        break;
    }
    json entry = {{"kind", config::to_string(e.kind)},
                  {"in_flight", in_flight},
                  {"latency_estimate",
                   {{"ttft", state.ttft.predict(now)},
                    {"per_output_token", state.per_output_token.predict(now)}}},
                  {"circuit", circuit}};
    if (e.capacity.max_concurrency > 0) {
      entry["max_concurrency"] = e.capacity.max_concurrency;
      entry["utilization"] = static_cast<double>(in_flight) / e.capacity.max_concurrency;
      entry["queued"] =
          in_flight > e.capacity.max_concurrency ? in_flight - e.capacity.max_concurrency : 0u;
    }
    if (const auto reported = state.reported_utilization(now)) {
      entry["reported_utilization"] = *reported;  // the upstream's own account, while fresh
    }
    if (e.cold_start) entry["cold"] = state.is_cold(e, now);
    const auto idle = state.idle_for(now);
    entry["idle_seconds"] = idle == core::Duration::max() ? json(nullptr) : json(seconds(idle));
    out[e.name] = entry;
  }
  return out.dump(2);
}

std::string reload_view(const ReloadResult& result) {
  const char* outcome = !result.ok ? "error" : result.changed ? "reloaded" : "unchanged";
  return json{{"result", outcome}, {"hash", result.hash}, {"errors", result.errors}}.dump();
}

}  // namespace fulcrum::net
