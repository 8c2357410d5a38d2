#include "fulcrum/metering/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>
#include <sstream>

#include "access_families.hpp"
#include "counter_grid.hpp"
#include "economics_families.hpp"
#include "money_counter.hpp"
#include "routing_families.hpp"

namespace fulcrum::metering {

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::success:
      return "success";
    case Outcome::client_error:
      return "client_error";
    case Outcome::upstream_error:
      return "upstream_error";
    case Outcome::timeout:
      return "timeout";
    case Outcome::internal_error:
      return "internal_error";
    case Outcome::client_closed:
      return "client_closed";
  }
  return "unknown";
}

namespace {

// Anonymous requests (auth mode open) belong to no team.
constexpr const char* kNoTeam = "none";

const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return buckets;
}

const prometheus::Histogram::BucketBoundaries& ttft_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return buckets;
}

}  // namespace

struct Metrics::Families {
  explicit Families(prometheus::Registry& registry)
      : requests(prometheus::BuildCounter()
                     .Name("fulcrum_requests_total")
                     .Help("Requests handled, by route, SLO class, alias, endpoint and outcome.")
                     .Register(registry)),
        tokens(prometheus::BuildCounter()
                   .Name("fulcrum_tokens_total")
                   .Help("Tokens processed, by endpoint, upstream model and type "
                         "(input includes cached).")
                   .Register(registry)),
        duration(prometheus::BuildHistogram()
                     .Name("fulcrum_request_duration_seconds")
                     .Help("Time from the request's arrival to the last byte of its response.")
                     .Register(registry)),
        ttft(prometheus::BuildHistogram()
                 .Name("fulcrum_time_to_first_token_seconds")
                 .Help("Time from the request's arrival to the first response byte relayed.")
                 .Register(registry)),
        in_flight(prometheus::BuildGauge()
                      .Name("fulcrum_endpoint_in_flight")
                      .Help("Requests currently being served by each endpoint.")
                      .Register(registry)),
        reported_utilization(
            prometheus::BuildGauge()
                .Name("fulcrum_endpoint_reported_utilization")
                .Help("The load an upstream reports for itself (Azure's "
                      "azure-openai-deployment-utilization), 1 = full; Azure endpoints only.")
                .Register(registry)),
        engine_load(prometheus::BuildGauge()
                        .Name("fulcrum_engine_load")
                        .Help("What a provisioned endpoint's engine reports on its /metrics "
                              "(endpoints.*.load), every client's: running and waiting "
                              "requests, and KV-cache use (0-1).")
                        .Register(registry)),
        engine_load_stale(prometheus::BuildGauge()
                              .Name("fulcrum_engine_load_stale")
                              .Help("1 while an engine's load report is older than its "
                                    "stale_after (scrapes failing): the router goes by "
                                    "Fulcrum's own counts.")
                              .Register(registry)),
        fallbacks(prometheus::BuildCounter()
                      .Name("fulcrum_fallbacks_total")
                      .Help("Moves from a failing target to the next one, by reason.")
                      .Register(registry)),
        build_info(prometheus::BuildGauge()
                       .Name("fulcrum_build_info")
                       .Help("Always 1; the version label tells which build runs.")
                       .Register(registry)),
        config_info(
            prometheus::BuildGauge()
                .Name("fulcrum_config_info")
                .Help("Always 1; the hash label (SHA-256 of the YAML) tells which config runs.")
                .Register(registry)),
        config_reloads(prometheus::BuildCounter()
                           .Name("fulcrum_config_reloads_total")
                           .Help("Config reloads, by result (success, or error: the previous "
                                 "config kept serving).")
                           .Register(registry)) {
    for (const char* result : {"success", "error"}) config_reloads.Add({{"result", result}});
  }

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Counter>& tokens;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Family<prometheus::Histogram>& ttft;
  prometheus::Family<prometheus::Gauge>& in_flight;
  prometheus::Family<prometheus::Gauge>& reported_utilization;
  prometheus::Family<prometheus::Gauge>& engine_load;
  prometheus::Family<prometheus::Gauge>& engine_load_stale;
  prometheus::Family<prometheus::Counter>& fallbacks;
  prometheus::Family<prometheus::Gauge>& build_info;
  prometheus::Family<prometheus::Gauge>& config_info;
  prometheus::Family<prometheus::Counter>& config_reloads;
  prometheus::Gauge* running_config = nullptr;  // under config_mutex
  std::mutex config_mutex;
};

Metrics::Metrics(std::string_view version)
    : registry_(std::make_shared<prometheus::Registry>()),
      cost_(std::make_unique<MoneyCounterFamily>(
          "fulcrum_cost_usd_total",
          "Cost in USD charged to requests, by endpoint, upstream model and team: tokens x price "
          "for serverless, the amortized share of the hourly price for provisioned.")),
      families_(std::make_unique<Families>(*registry_)),
      routing_(std::make_unique<RoutingFamilies>(*registry_)),
      access_(std::make_unique<AccessFamilies>(*registry_)),
      economics_(std::make_unique<EconomicsFamilies>(*registry_)) {
  families_->build_info.Add({{"version", std::string(version)}}).Set(1);
}

Metrics::~Metrics() = default;

void Metrics::engine_load(const MeterTable& table, std::size_t endpoint, double running,
                          double waiting, double kv_cache_usage) {
  const auto& gauges = table.engine[endpoint];
  if (!gauges) return;
  gauges->running->Set(running);
  gauges->waiting->Set(waiting);
  if (kv_cache_usage >= 0) gauges->kv_cache_usage->Set(kv_cache_usage);
}

void Metrics::engine_load_stale(const MeterTable& table, std::size_t endpoint, bool stale) {
  if (const auto& gauges = table.engine[endpoint]) gauges->stale->Set(stale ? 1 : 0);
}

void Metrics::reported_utilization(const MeterTable& table, std::size_t endpoint, double fraction) {
  if (prometheus::Gauge* gauge = table.reported_utilization[endpoint]) gauge->Set(fraction);
}

MeterTable::MeterTable() = default;

std::size_t MeterTable::team_index(std::string_view team) const {
  for (std::size_t i = 0; i < teams.size(); ++i) {
    if (teams[i] == team) return i;
  }
  return 0;
}
MeterTable::~MeterTable() = default;

std::shared_ptr<const MeterTable> Metrics::bind(const config::Config& config) {
  auto table = std::make_shared<MeterTable>();
  Families& f = *families_;
  for (const config::Endpoint& endpoint : config.endpoints) {
    table->in_flight.push_back(&f.in_flight.Add({{"endpoint", endpoint.name}}));
    // Only Azure reports its own load (provider::Azure::load_header).
    table->reported_utilization.push_back(
        endpoint.provider.kind == config::Provider::azure
            ? &f.reported_utilization.Add({{"endpoint", endpoint.name}})
            : nullptr);
    std::unique_ptr<MeterTable::EngineGauges> engine;
    if (endpoint.load) {
      engine = std::make_unique<MeterTable::EngineGauges>();
      engine->running = &f.engine_load.Add({{"endpoint", endpoint.name}, {"measure", "running"}});
      engine->waiting = &f.engine_load.Add({{"endpoint", endpoint.name}, {"measure", "waiting"}});
      engine->kv_cache_usage =
          &f.engine_load.Add({{"endpoint", endpoint.name}, {"measure", "kv_cache_usage"}});
      engine->stale = &f.engine_load_stale.Add({{"endpoint", endpoint.name}});
      engine->stale->Set(1);  // until the first scrape answers
    }
    table->engine.push_back(std::move(engine));
  }

  CounterGrid::Axis routes;
  for (const config::Route& route : config.routes) routes.push_back({{"route", route.name}});
  table->no_route = routes.size();
  routes.push_back({{"route", "none"}});
  CounterGrid::Axis classes;
  for (const config::SloClass& slo : config.slo_classes)
    classes.push_back({{"slo_class", slo.name}});
  table->no_slo_class = classes.size();
  classes.push_back({{"slo_class", "none"}});
  CounterGrid::Axis subjects;
  const auto subject = [&subjects](const std::string& model, const std::string& endpoint,
                                   const std::string& kind) {
    subjects.push_back({{"model", model}, {"endpoint", endpoint}, {"kind", kind}});
    return subjects.size() - 1;
  };
  CounterGrid::Axis outcomes;
  for (std::size_t o = 0; o < kOutcomeCount; ++o) {
    outcomes.push_back({{"outcome", to_string(static_cast<Outcome>(o))}});
  }

  table->teams.emplace_back(kNoTeam);
  for (const config::ApiKey& key : config.keys) {
    if (table->team_index(key.team) == 0 && key.team != kNoTeam) table->teams.push_back(key.team);
  }
  table->unrouted_subject = subject("none", "none", "none");
  for (const config::ModelAlias& alias : config.models) {
    table->unserved_subject.push_back(subject(alias.name, "none", "none"));
  }
  for (const config::ModelAlias& alias : config.models) {
    auto& row = table->by_alias.emplace_back();
    for (const config::Target& target : alias.targets) {
      const config::Endpoint& endpoint = config.endpoints[target.endpoint];
      const std::string kind = config::to_string(endpoint.kind);
      TargetMeters meters;
      meters.subject = subject(alias.name, endpoint.name, kind);
      const auto tokens = [&](const char* type) {
        return &f.tokens.Add({{"endpoint", endpoint.name},
                              {"kind", kind},
                              {"model", target.upstream_model},
                              {"type", type}});
      };
      meters.input_tokens = tokens("input");
      meters.cached_tokens = tokens("cached");
      meters.cache_write_tokens = tokens("cache_write");
      meters.output_tokens = tokens("output");
      meters.reasoning_tokens = tokens("reasoning");
      for (const std::string& team : table->teams) {
        meters.cost_by_team.push_back(&cost_->add({{"endpoint", endpoint.name},
                                                   {"kind", kind},
                                                   {"model", target.upstream_model},
                                                   {"team", team}}));
      }
      meters.duration =
          &f.duration.Add({{"model", alias.name}, {"endpoint", endpoint.name}}, duration_buckets());
      meters.ttft =
          &f.ttft.Add({{"model", alias.name}, {"endpoint", endpoint.name}}, ttft_buckets());
      meters.request_cost = request_cost_histogram(kind);
      row.push_back(meters);
    }
  }
  table->requests = std::make_unique<CounterGrid>(
      f.requests, std::vector<CounterGrid::Axis>{std::move(routes), std::move(classes),
                                                 std::move(subjects), std::move(outcomes)});
  bind_routing(config, *table);
  bind_access(config, *table);
  return table;
}

InFlight::InFlight(prometheus::Gauge* gauge) : gauge_(gauge) { gauge_->Increment(); }
InFlight::~InFlight() { gauge_->Decrement(); }

void Metrics::record(const MeterTable& table, const Completion& c) {
  const auto outcome = static_cast<std::size_t>(c.outcome);
  const std::size_t route = c.route.value_or(table.no_route);
  const std::size_t slo_class = c.slo_class.value_or(table.no_slo_class);
  if (c.meters == nullptr) {
    const std::size_t subject =
        c.alias_index ? table.unserved_subject[*c.alias_index] : table.unrouted_subject;
    table.requests->at({route, slo_class, subject, outcome}).Increment();
    return;
  }
  const TargetMeters& m = *c.meters;
  table.requests->at({route, slo_class, m.subject, outcome}).Increment();
  if (c.usage) {
    add_usage(m, *c.usage, c.cost, c.team);
  } else {
    m.cost_by_team[c.team < m.cost_by_team.size() ? c.team : 0]->add(c.cost);
  }
  m.duration->Observe(c.duration_seconds);
  if (c.ttft_seconds) m.ttft->Observe(*c.ttft_seconds);
}

void Metrics::add_usage(const TargetMeters& m, const core::Usage& usage, core::Money cost,
                        std::size_t team) {
  m.input_tokens->Increment(static_cast<double>(usage.input));
  m.cached_tokens->Increment(static_cast<double>(usage.cached_input));
  m.cache_write_tokens->Increment(static_cast<double>(usage.cache_write));
  m.output_tokens->Increment(static_cast<double>(usage.output));
  m.reasoning_tokens->Increment(static_cast<double>(usage.reasoning));
  m.cost_by_team[team < m.cost_by_team.size() ? team : 0]->add(cost);
  m.request_cost->Observe(cost.usd());
}

void Metrics::fallback(std::string_view from, std::string_view to, std::string_view reason) {
  // Rare by nature, so the label lookup here is acceptable.
  families_->fallbacks
      .Add({{"from", std::string(from)}, {"to", std::string(to)}, {"reason", std::string(reason)}})
      .Increment();
}

void Metrics::config_info(const std::string& hash) {
  Families& f = *families_;
  const std::lock_guard lock(f.config_mutex);
  // One sample at a time: the hash of the config that runs now.
  if (f.running_config != nullptr) f.config_info.Remove(f.running_config);
  f.running_config = &f.config_info.Add({{"hash", hash}});
  f.running_config->Set(1);
}

void Metrics::config_reload(bool succeeded) {
  families_->config_reloads.Add({{"result", succeeded ? "success" : "error"}}).Increment();
}

std::string Metrics::scrape() {
  refresh_watched();
  refresh_economics();
  auto families = registry_->Collect();
  for (auto& family : cost_->Collect()) families.push_back(std::move(family));
  for (auto& family : economics_->idle_cost.Collect()) families.push_back(std::move(family));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace fulcrum::metering
