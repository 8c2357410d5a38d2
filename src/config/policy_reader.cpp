#include "policy_reader.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace fulcrum::config {

std::vector<YAML::Node> list_of(const YAML::Node& node) {
  std::vector<YAML::Node> items;
  if (node.IsSequence()) {
    for (const auto& item : node) items.push_back(item);
  } else if (node.IsDefined()) {
    items.push_back(node);
  }
  return items;
}

std::optional<std::size_t> slo_class_at(const YAML::Node& node, Diagnostics& diag,
                                        const Config& config) {
  const auto name = read_string(node, diag, "an SLO class");
  if (!name) return std::nullopt;
  if (auto index = config.find_slo_class(*name)) return index;
  std::string known;
  for (const auto& slo : config.slo_classes) known += (known.empty() ? "" : ", ") + slo.name;
  diag.error(node, "unknown SLO class '" + *name + "' (defined: " + known + ")");
  return std::nullopt;
}

std::optional<core::Duration> read_positive_duration(const YAML::Node& node, Diagnostics& diag,
                                                     std::string_view what) {
  const auto value = read_duration(node, diag, what);
  if (value && value->count() == 0) {
    diag.error(node, std::string(what) + " must be above zero");
    return std::nullopt;
  }
  return value;
}

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool is_header_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

std::vector<SloClass> built_in_slo_classes() {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  return {
      {"realtime", 100, milliseconds(800), seconds(30), milliseconds(0), std::nullopt},
      {"standard", 50, seconds(2), seconds(60), milliseconds(200), std::nullopt},
      {"batch", 10, seconds(60), seconds(600), seconds(30), std::nullopt},
  };
}

void read_duration_field(MapReader& map, std::string_view key, Diagnostics& diag,
                         core::Duration& out) {
  const YAML::Node node = map.optional(key);
  if (!node.IsDefined()) return;
  if (auto value = read_duration(node, diag, key)) out = *value;
}

std::optional<Strategy> read_strategy(const YAML::Node& node, Diagnostics& diag) {
  const auto text = read_string(node, diag, "strategy");
  if (!text) return std::nullopt;
  for (Strategy s : {Strategy::cheapest_meeting_slo, Strategy::lowest_latency, Strategy::weighted,
                     Strategy::ordered}) {
    if (*text == to_string(s)) return s;
  }
  diag.error(node, "strategy must be cheapest_meeting_slo, lowest_latency, weighted or ordered");
  return std::nullopt;
}

std::optional<std::size_t> alias_at(const YAML::Node& node, Diagnostics& diag, const Config& config,
                                    std::string_view what) {
  const auto name = read_string(node, diag, what);
  if (!name) return std::nullopt;
  const ModelAlias* alias = config.find_alias(*name);
  if (alias == nullptr) {
    diag.error(node, std::string(what) + " names unknown model alias '" + *name + "'");
    return std::nullopt;
  }
  return static_cast<std::size_t>(alias - config.models.data());
}

void read_retries(const YAML::Node& node, Diagnostics& diag, RetryPolicy& out) {
  MapReader map(node, diag, "retries");
  if (!map.valid()) return;
  if (const YAML::Node max = map.optional("max"); max.IsDefined()) {
    const auto value = read_unsigned(max, diag, "retries.max");
    if (value && *value > 10) diag.error(max, "retries.max must be at most 10");
    if (value) out.max = static_cast<unsigned>(std::min<std::uint64_t>(*value, 10));
  }
  if (const YAML::Node on = map.optional("on"); on.IsDefined()) {
    out.on = 0;
    for (const YAML::Node& item : list_of(on)) {
      const auto text = read_string(item, diag, "retries.on");
      if (!text) continue;
      if (*text == "connect") {
        out.on |= static_cast<std::uint8_t>(RetryOn::connect);
      } else if (*text == "timeout") {
        out.on |= static_cast<std::uint8_t>(RetryOn::timeout);
      } else if (*text == "5xx") {
        out.on |= static_cast<std::uint8_t>(RetryOn::status_5xx);
      } else if (*text == "429") {
        out.on |= static_cast<std::uint8_t>(RetryOn::status_429);
      } else {
        diag.error(item,
                   "retries.on entries are connect, timeout, 5xx or 429, not '" + *text + "'");
      }
    }
  }
  if (const YAML::Node backoff = map.optional("backoff"); backoff.IsDefined()) {
    MapReader b(backoff, diag, "retries.backoff");
    read_duration_field(b, "base", diag, out.backoff_base);
    read_duration_field(b, "max", diag, out.backoff_max);
    if (out.backoff_max < out.backoff_base) {
      diag.error(backoff, "retries.backoff.max must be at least backoff.base");
    }
  }
  read_duration_field(map, "max_retry_after", diag, out.max_retry_after);
}

std::optional<TimeWindow> read_time_window(const YAML::Node& node, Diagnostics& diag) {
  MapReader map(node, diag, "match.time");
  if (!map.valid()) return std::nullopt;
  TimeWindow out;
  bool ok = true;
  if (const YAML::Node tz = map.optional("tz"); tz.IsDefined()) {
    if (auto name = read_string(tz, diag, "tz")) {
      if (auto zone = core::TimeZone::load(*name)) {
        out.zone = std::move(*zone);
      } else {
        diag.error(tz, "unknown time zone '" + *name + "' (an IANA name such as Europe/Berlin)");
        ok = false;
      }
    }
  }
  const YAML::Node between = map.required("between");
  if (between.IsDefined()) {
    const auto text = read_string(between, diag, "between");
    const auto dash = text ? text->find('-') : std::string::npos;
    const auto start =
        dash != std::string::npos ? core::parse_time_of_day(text->substr(0, dash)) : std::nullopt;
    const auto end =
        dash != std::string::npos ? core::parse_time_of_day(text->substr(dash + 1)) : std::nullopt;
    if (!start || !end || *start == *end || *start == 24 * 60) {
      if (text) diag.error(between, "between must be \"HH:MM-HH:MM\" with different ends");
      ok = false;
    } else {
      out.window.start_minute = *start;
      out.window.end_minute = *end;
    }
  } else {
    ok = false;
  }
  if (const YAML::Node days = map.optional("days"); days.IsDefined()) {
    out.window.days = 0;
    for (const YAML::Node& item : list_of(days)) {
      const auto text = read_string(item, diag, "days");
      const auto bits = text ? core::parse_days(lower(*text)) : std::nullopt;
      if (!bits) {
        if (text) diag.error(item, "days are mon..sun or ranges such as mon..fri");
        ok = false;
      } else {
        out.window.days |= *bits;
      }
    }
  }
  return ok ? std::optional(std::move(out)) : std::nullopt;
}

std::optional<std::size_t> tier_at(const YAML::Node& node, Diagnostics& diag,
                                   const Classifier& classifier) {
  const auto name = read_string(node, diag, "a classifier tier");
  if (!name) return std::nullopt;
  for (std::size_t i = 0; i < classifier.tiers.size(); ++i) {
    if (classifier.tiers[i].name == *name) return i;
  }
  diag.error(node, "unknown classifier tier '" + *name + "'");
  return std::nullopt;
}

void read_match(const YAML::Node& node, Diagnostics& diag, Config& config, RouteMatch& out) {
  MapReader map(node, diag, "match");
  if (!map.valid()) return;
  for (const YAML::Node& item : list_of(map.optional("model"))) {
    if (auto index = alias_at(item, diag, config, "match.model")) out.aliases.push_back(*index);
  }
  if (const YAML::Node headers = map.optional("headers"); headers.IsDefined()) {
    if (!headers.IsMap()) diag.error(headers, "match.headers must map header names to values");
    for (const auto& entry : headers) {
      const std::string name = lower(entry.first.Scalar());
      if (!is_header_name(name)) {
        diag.error(entry.first, "'" + name + "' is not a header name");
        continue;
      }
      auto at = std::find(config.route_headers.begin(), config.route_headers.end(), name);
      if (at == config.route_headers.end()) at = config.route_headers.insert(at, name);
      HeaderMatch match;
      match.header = static_cast<std::size_t>(at - config.route_headers.begin());
      for (const YAML::Node& value : list_of(entry.second)) {
        if (auto text = read_string(value, diag, "a header value")) match.values.push_back(*text);
      }
      out.headers.push_back(std::move(match));
    }
  }
  if (const YAML::Node tokens = map.optional("prompt_tokens"); tokens.IsDefined()) {
    MapReader t(tokens, diag, "match.prompt_tokens");
    if (const YAML::Node min = t.optional("min"); min.IsDefined()) {
      out.min_prompt_tokens = read_unsigned(min, diag, "prompt_tokens.min");
    }
    if (const YAML::Node max = t.optional("max"); max.IsDefined()) {
      out.max_prompt_tokens = read_unsigned(max, diag, "prompt_tokens.max");
    }
    if (out.min_prompt_tokens && out.max_prompt_tokens &&
        *out.min_prompt_tokens > *out.max_prompt_tokens) {
      diag.error(tokens, "prompt_tokens.min is above prompt_tokens.max");
    }
  }
  if (const YAML::Node time = map.optional("time"); time.IsDefined()) {
    out.time = read_time_window(time, diag);
  }
  for (const YAML::Node& item : list_of(map.optional("tier"))) {
    if (auto index = tier_at(item, diag, config.classifier)) out.tiers.push_back(*index);
  }
}

}  // namespace

void read_timeout_overrides(const YAML::Node& node, Diagnostics& diag, TimeoutOverrides& out) {
  MapReader map(node, diag, "timeouts");
  for (auto [key, field] : {std::pair{"connect", &out.connect},
                            {"first_byte", &out.first_byte},
                            {"idle", &out.idle},
                            {"total", &out.total}}) {
    const YAML::Node value = map.optional(key);
    if (value.IsDefined()) *field = read_positive_duration(value, diag, key);
  }
}

void read_slo_classes(const YAML::Node& node, Diagnostics& diag, Config& config) {
  if (!node.IsDefined()) {
    config.slo_classes = built_in_slo_classes();
    return;
  }
  if (!node.IsMap() || node.size() == 0) {
    diag.error(
        node,
        "slo_classes must map class names to {priority, ttft, e2e, max_queue_wait, wait_margin}");
    config.slo_classes = built_in_slo_classes();
    return;
  }
  for (const auto& entry : node) {
    SloClass slo;
    slo.name = entry.first.Scalar();
    MapReader map(entry.second, diag, "SLO class '" + slo.name + "'");
    if (!map.valid()) continue;
    if (const YAML::Node priority = map.optional("priority"); priority.IsDefined()) {
      if (auto value = read_number(priority, diag, "priority")) {
        // A rank, not a quantity: a bounded integer (the config fuzzer found 1e21 here).
        if (*value > 1'000'000 || *value != std::floor(*value)) {
          diag.error(priority, "priority must be a whole number from 0 to 1000000");
        } else {
          slo.priority = static_cast<int>(*value);
        }
      }
    }
    for (auto [key, field] : {std::pair{"ttft", &slo.ttft}, {"e2e", &slo.e2e}}) {
      const YAML::Node value = map.optional(key);
      if (!value.IsDefined()) continue;
      if (auto d = read_positive_duration(value, diag, key)) *field = *d;
    }
    read_duration_field(map, "max_queue_wait", diag, slo.max_queue_wait);
    if (map.optional("wait_margin").IsDefined()) {
      core::Duration margin{0};
      read_duration_field(map, "wait_margin", diag, margin);
      slo.wait_margin = margin;
    }
    config.slo_classes.push_back(std::move(slo));
  }
  if (config.slo_classes.empty()) config.slo_classes = built_in_slo_classes();
}

void read_classifiers(const YAML::Node& node, Diagnostics& diag, Config& config) {
  Classifier& c = config.classifier;
  c.keywords = {"step by step", "step-by-step", "prove",     "derive",   "analyze", "analyse",
                "explain why",  "reason",       "trade-off", "tradeoff", "compare", "design",
                "refactor",     "debug",        "optimize",  "first,",   "then,",   "finally,"};
  c.tiers = {{"simple", 0}, {"medium", 1.0}, {"complex", 2.5}};
  if (!node.IsDefined()) return;
  MapReader top(node, diag, "classifiers");
  const YAML::Node complexity = top.required("complexity");
  if (!complexity.IsDefined()) return;
  MapReader map(complexity, diag, "classifiers.complexity");
  if (!map.valid()) return;
  if (const YAML::Node keywords = map.optional("keywords"); keywords.IsDefined()) {
    c.keywords.clear();
    for (const YAML::Node& item : list_of(keywords)) {
      if (auto text = read_string(item, diag, "a keyword"); text && !text->empty()) {
        c.keywords.push_back(lower(*text));
      }
    }
  }
  if (const YAML::Node weights = map.optional("weights"); weights.IsDefined()) {
    MapReader w(weights, diag, "classifiers.complexity.weights");
    for (auto [key, field] : {std::pair{"per_1k_tokens", &c.weights.per_1k_tokens},
                              {"code_block", &c.weights.code_block},
                              {"keyword", &c.weights.keyword},
                              {"tools", &c.weights.tools},
                              {"response_format", &c.weights.response_format},
                              {"turn", &c.weights.turn}}) {
      const YAML::Node value = w.optional(key);
      if (!value.IsDefined()) continue;
      if (auto number = read_number(value, diag, key)) *field = *number;
    }
  }
  if (const YAML::Node tiers = map.optional("tiers"); tiers.IsDefined()) {
    if (!tiers.IsMap() || tiers.size() == 0) {
      diag.error(tiers,
                 "tiers must map tier names to the lowest score of each, e.g. "
                 "{simple: 0, medium: 1, complex: 2.5}");
      return;
    }
    c.tiers.clear();
    for (const auto& entry : tiers) {
      if (auto bound = read_number(entry.second, diag, "a tier bound")) {
        c.tiers.push_back({entry.first.Scalar(), *bound});
      }
    }
    std::stable_sort(c.tiers.begin(), c.tiers.end(),
                     [](const auto& a, const auto& b) { return a.min_score < b.min_score; });
    if (!c.tiers.empty() && c.tiers.front().min_score != 0) {
      diag.error(tiers, "the lowest tier must start at 0");
    }
  }
}

void read_routes(const YAML::Node& node, Diagnostics& diag, Config& config) {
  const std::size_t default_slo = config.find_slo_class("standard").value_or(0);
  if (node.IsDefined() && !node.IsSequence()) {
    diag.error(node, "routes must be a list; the first whose match fits a request applies");
  }
  if (node.IsSequence()) {
    for (const YAML::Node& item : node) {
      MapReader map(item, diag, "a route");
      if (!map.valid()) continue;
      Route route;
      route.slo = default_slo;
      const YAML::Node name = map.required("name");
      if (name.IsDefined()) route.name = read_string(name, diag, "name").value_or("");
      for (const Route& other : config.routes) {
        if (other.name == route.name)
          diag.error(name, "route '" + route.name + "' is defined twice");
      }
      if (route.name == "default") diag.error(name, "the route name 'default' is reserved");
      if (const YAML::Node match = map.optional("match"); match.IsDefined()) {
        read_match(match, diag, config, route.match);
      }
      if (const YAML::Node slo = map.optional("slo"); slo.IsDefined()) {
        route.slo = slo_class_at(slo, diag, config).value_or(default_slo);
      }
      if (const YAML::Node strategy = map.optional("strategy"); strategy.IsDefined()) {
        route.strategy = read_strategy(strategy, diag).value_or(route.strategy);
      }
      for (const YAML::Node& alias : list_of(map.optional("fallback"))) {
        if (auto index = alias_at(alias, diag, config, "fallback")) {
          if (config.models[*index].classify) {
            diag.error(alias, "fallback cannot name a classifying alias");
          } else {
            route.fallback.push_back(*index);
          }
        }
      }
      if (const YAML::Node retries = map.optional("retries"); retries.IsDefined()) {
        read_retries(retries, diag, route.retries);
      }
      if (const YAML::Node timeouts = map.optional("timeouts"); timeouts.IsDefined()) {
        read_timeout_overrides(timeouts, diag, route.timeouts);
      }
      for (const YAML::Node& slo : list_of(map.optional("flex_for"))) {
        if (auto index = slo_class_at(slo, diag, config)) {
          if (std::find(route.flex_for.begin(), route.flex_for.end(), *index) !=
              route.flex_for.end()) {
            diag.error(slo,
                       "flex_for names SLO class '" + config.slo_classes[*index].name + "' twice");
          } else {
            route.flex_for.push_back(*index);
          }
        }
      }
      config.routes.push_back(std::move(route));
    }
  }
  Route fallback_route;
  fallback_route.name = "default";
  fallback_route.slo = default_slo;
  config.routes.push_back(std::move(fallback_route));
}

namespace {

// A retry_budget number into `out` when it lies in [low, high] (`range` says so in words);
// reported otherwise.
void read_budget_number(MapReader& map, std::string_view key, double low, double high,
                        std::string_view range, Diagnostics& diag, double& out) {
  const YAML::Node node = map.optional(key);
  if (!node.IsDefined()) return;
  const std::string what = "retry_budget." + std::string(key);
  const auto value = read_number(node, diag, what);
  if (!value) return;
  if (*value < low || *value > high) {
    diag.error(node, what + " must be between " + std::string(range));
  } else {
    out = *value;
  }
}

}  // namespace

void read_retry_budget(const YAML::Node& node, Diagnostics& diag, Config& config) {
  if (!node.IsDefined()) return;
  MapReader map(node, diag, "retry_budget");
  if (!map.valid()) return;
  RetryBudgetPolicy& out = config.retry_budget;
  read_budget_number(map, "ratio", 0, 1, "0 and 1", diag, out.ratio);
  read_budget_number(map, "min_per_second", 0, 1000, "0 and 1000", diag, out.min_per_second);
  if (const YAML::Node window = map.optional("window"); window.IsDefined()) {
    const auto value = read_positive_duration(window, diag, "retry_budget.window");
    if (value && (*value < std::chrono::seconds(1) ||
                  *value > std::chrono::seconds(RetryBudgetPolicy::kMaxWindowSeconds))) {
      diag.error(window, "retry_budget.window must be between 1s and 60s");
    } else if (value) {
      // Counted in whole seconds: a part of one makes it one more.
      out.window_seconds =
          static_cast<std::uint32_t>(std::chrono::ceil<std::chrono::seconds>(*value).count());
    }
  }
}

}  // namespace fulcrum::config
