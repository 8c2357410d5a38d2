#pragma once
// Fulcrum's Prometheus metrics (names in docs/metrics.md). Label sets that the request path
// needs are resolved once per configuration into a MeterTable, so recording a request is a
// handful of atomic adds with no label hashing and no allocation.
#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/core/usage.hpp"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace fulcrum::metering {

class BudgetBook;
class Economics;
class MoneyCell;
class MoneyCounterFamily;
struct LedgerStats;

enum class Outcome {
  success,         // 2xx relayed in full
  client_error,    // the request was invalid (ours or the upstream's 4xx)
  upstream_error,  // every target failed, or the upstream broke mid-response
  timeout,         // an upstream deadline passed
  client_closed,   // the client went away before the response ended
  internal_error,  // Fulcrum failed while handling it (logged with the request id)
};
inline constexpr std::size_t kOutcomeCount = 6;
const char* to_string(Outcome outcome);

class CounterGrid;

// The meters of one (alias, target) pair.
struct TargetMeters {
  std::size_t subject = 0;  // its position on the requests grid's target axis
  prometheus::Counter* input_tokens = nullptr;
  prometheus::Counter* cached_tokens = nullptr;
  prometheus::Counter* cache_write_tokens = nullptr;
  prometheus::Counter* output_tokens = nullptr;
  prometheus::Counter* reasoning_tokens = nullptr;
  std::vector<MoneyCell*> cost_by_team;  // indexed like MeterTable::teams
  prometheus::Histogram* duration = nullptr;
  prometheus::Histogram* ttft = nullptr;
  prometheus::Histogram* request_cost = nullptr;  // by the endpoint's kind
};

// Meters resolved for one Config snapshot; indexed like Config::models[i].targets[j].
struct MeterTable {
  MeterTable();
  ~MeterTable();

  std::vector<std::vector<TargetMeters>> by_alias;
  // The `team` label's values: "none" (anonymous requests), then each key's team.
  std::vector<std::string> teams;
  std::size_t team_index(std::string_view team) const;
  std::vector<prometheus::Gauge*> in_flight;  // by endpoint index
  // By endpoint index; null for endpoints whose upstream reports no load of its own.
  std::vector<prometheus::Gauge*> reported_utilization;
  // By endpoint index; null for endpoints without endpoints.*.load.
  struct EngineGauges {
    prometheus::Gauge* running = nullptr;
    prometheus::Gauge* waiting = nullptr;
    prometheus::Gauge* kv_cache_usage = nullptr;
    prometheus::Gauge* stale = nullptr;
  };
  std::vector<std::unique_ptr<EngineGauges>> engine;
  // requests_total over route × slo_class × (model, endpoint, kind) × outcome. The route
  // and class axes end with "none", for requests that were never routed.
  std::unique_ptr<CounterGrid> requests;
  std::size_t no_route = 0;
  std::size_t no_slo_class = 0;
  // Requests of a known alias that no target served (every target failed): endpoint="none".
  std::vector<std::size_t> unserved_subject;  // by alias
  // Requests that named no known alias or did not parse: model="none", endpoint="none".
  std::size_t unrouted_subject = 0;

  // Routing: route × endpoint (then "none") × reason; endpoint × endpoint × spill reason.
  std::unique_ptr<CounterGrid> decisions;
  std::unique_ptr<CounterGrid> spillovers;
  std::vector<prometheus::Counter*> slo_violations;    // by SLO class
  std::vector<prometheus::Counter*> cold_starts;       // by endpoint
  std::vector<prometheus::Counter*> prewarm_requests;  // by endpoint
  std::vector<prometheus::Counter*> malformed_events;  // by endpoint
  std::vector<prometheus::Gauge*> ttft_estimate;       // by endpoint
  std::vector<prometheus::Gauge*> per_token_estimate;  // by endpoint
  std::vector<prometheus::Gauge*> circuit_open;        // by endpoint

  // Budgets, by Config::budgets index.
  std::vector<prometheus::Gauge*> budget_spend;
  std::vector<prometheus::Gauge*> budget_reserved;
  std::unique_ptr<CounterGrid> budget_actions;  // budget × action
};

// Counts a request against its endpoint's in-flight gauge for the guard's lifetime.
class InFlight {
 public:
  explicit InFlight(prometheus::Gauge* gauge);
  ~InFlight();
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  prometheus::Gauge* gauge_;
};

// One finished request, as metering sees it.
struct Completion {
  const TargetMeters* meters = nullptr;    // null when no target answered
  std::optional<std::size_t> alias_index;  // the alias, when the request named a known one
  std::optional<std::size_t> route;        // Config::routes index, once routed
  std::optional<std::size_t> slo_class;    // Config::slo_classes index, once routed
  std::size_t team = 0;                    // MeterTable::teams index
  Outcome outcome = Outcome::success;
  std::optional<core::Usage> usage;
  core::Money cost;  // chargeback: marginal for serverless, amortized for provisioned
  double duration_seconds = 0;
  std::optional<double> ttft_seconds;
};

// The shared-state backend (state.redis), resolved once so that workers count with atomics
// only. `up` is 1 once a call got its reply, 0 from when a worker's circuit opens until then.
struct StateMeters {
  prometheus::Gauge* up = nullptr;
  prometheus::Histogram* call_seconds = nullptr;
  // fulcrum_state_backend_errors_total by reason.
  prometheus::Counter* timeouts = nullptr;
  prometheus::Counter* connection_errors = nullptr;
  prometheus::Counter* circuit_open = nullptr;  // refused at once while the circuit is open
  prometheus::Counter* reply_errors = nullptr;  // Redis answered with an error
  // fulcrum_state_unavailable_total{feature}: decisions taken by on_state_unavailable.
  prometheus::Counter* unavailable_capacity = nullptr;
  prometheus::Counter* unavailable_rate_limits = nullptr;
  prometheus::Counter* unavailable_budgets = nullptr;
};

class Metrics {
 public:
  explicit Metrics(std::string_view version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  std::shared_ptr<const MeterTable> bind(const config::Config& config);

  void record(const MeterTable& table, const Completion& completion);
  // Tokens and cost of a served answer (record() does it for requests; a late answer of an
  // abandoned attempt is only this). `team` indexes MeterTable::teams.
  void add_usage(const TargetMeters& meters, const core::Usage& usage, core::Money cost,
                 std::size_t team);
  void fallback(std::string_view from, std::string_view to, std::string_view reason);

  // Routing (metrics_routing.cpp). `endpoint` is absent when nothing served the request.
  void decision(const MeterTable& table, std::size_t route, std::optional<std::size_t> endpoint,
                std::string_view reason);
  // `reason`: capacity, slo, cold, circuit-open or 429.
  void spillover(const MeterTable& table, std::size_t from, std::size_t to,
                 std::string_view reason);
  // fulcrum_unit_moves_total{from,to,reason}: a request placed on another provisioned
  // endpoint than the one preferred. Not a spillover: it stays on paid-for capacity.
  void unit_move(std::string_view from, std::string_view to, std::string_view reason);
  // The gateway's wait for a slot on a full provisioned endpoint: fulcrum_queue_waiting
  // {endpoint,slo_class} while a request waits; when it stops, fulcrum_queue_wait_seconds and
  // fulcrum_queue_outcomes_total{outcome="served"|"spilled"}.
  void queue_joined(std::string_view endpoint, std::string_view slo_class);
  void queue_left(std::string_view endpoint, std::string_view slo_class, double waited_seconds,
                  bool served);
  void retry_budget_exhausted();
  // fulcrum_config_info{hash} = 1 for the running configuration.
  void config_info(const std::string& hash);
  // fulcrum_config_reloads_total{result}.
  void config_reload(bool succeeded);
  void slo_violation(const MeterTable& table, std::size_t slo_class);
  void cold_start(const MeterTable& table, std::size_t endpoint);
  // fulcrum_upstream_malformed_events_total{endpoint}: SSE events dropped as invalid JSON.
  void malformed_events(const MeterTable& table, std::size_t endpoint, std::size_t count);
  // fulcrum_endpoint_reported_utilization{endpoint}: the load the upstream reports itself.
  void reported_utilization(const MeterTable& table, std::size_t endpoint, double fraction);
  // fulcrum_engine_load{endpoint,measure} from the engine's last scrape (kv_cache_usage < 0:
  // not reported) and fulcrum_engine_load_stale{endpoint}: 1 while the router cannot believe
  // it (no answer for stale_after) and goes by Fulcrum's own counts.
  void engine_load(const MeterTable& table, std::size_t endpoint, double running, double waiting,
                   double kv_cache_usage);
  void engine_load_stale(const MeterTable& table, std::size_t endpoint, bool stale);
  void prewarm_sent(const MeterTable& table, std::size_t endpoint);
  // fulcrum_provisioned_recommended_units{endpoint}, by endpoint name.
  void recommended_units(const std::map<std::string, unsigned>& units);
  void latency_estimate(const MeterTable& table, std::size_t endpoint, double ttft_seconds,
                        double per_output_token_seconds);
  void circuit(const MeterTable& table, std::size_t endpoint, bool open);

  // Budgets and the ledger (metrics_access.cpp). Actions: rejected, downgraded, soft_exceeded.
  void budget_action(const MeterTable& table, std::size_t budget, std::string_view action);
  // At each scrape, budget spend gauges are read from `budgets` (kept alive by the pointer).
  void watch_budgets(const MeterTable& table, std::shared_ptr<BudgetBook> budgets);
  void watch_ledger(const LedgerStats* stats);

  // Provisioned economics (metrics_economics.cpp): at each scrape, utilization, idle cost
  // and effective cost are read from `economics` for the endpoints of `config` (which
  // `owner` keeps alive). Called at start and after each reload.
  void watch_economics(const config::Config& config, std::shared_ptr<const void> owner,
                       std::shared_ptr<const Economics> economics);

  // The shared-state backend's meters (metrics_state.cpp), registered by the first call,
  // which must come before the workers start.
  StateMeters& state_meters(std::string_view backend);

  // The Prometheus text exposition of every metric.
  std::string scrape();

 private:
  struct Families;
  struct RoutingFamilies;
  struct AccessFamilies;
  struct EconomicsFamilies;
  void refresh_economics();
  prometheus::Histogram* request_cost_histogram(const std::string& kind);
  void bind_access(const config::Config& config, MeterTable& table);
  void refresh_watched();
  void bind_routing(const config::Config& config, MeterTable& table);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MoneyCounterFamily> cost_;
  std::unique_ptr<Families> families_;
  std::unique_ptr<RoutingFamilies> routing_;
  std::unique_ptr<AccessFamilies> access_;
  std::unique_ptr<EconomicsFamilies> economics_;
  std::unique_ptr<StateMeters> state_;
};

}  // namespace fulcrum::metering
