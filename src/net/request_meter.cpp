#include "request_meter.hpp"

#include "fulcrum/metering/cost.hpp"
#include "fulcrum/metering/provisioned.hpp"
#include "proxy_request.hpp"

namespace fulcrum::net {
namespace {

using metering::Outcome;

using core::seconds_between;

std::int64_t unix_millis(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string_view operation_name(api::Operation op) {
  switch (op) {
    case api::Operation::chat_completions:
      return "chat";
    case api::Operation::completions:
      return "completions";
    case api::Operation::embeddings:
      return "embeddings";
    case api::Operation::responses:
      return "responses";
    case api::Operation::messages:
      return "messages";
  }
  return "unknown";
}

void write_ledger_row(const MeterEvent& e, metering::Ledger& ledger, core::WallTime wall_finished) {
  const config::Config& config = e.snapshot->config;
  const config::Target& target = config.models[e.target->first].targets[e.target->second];
  const config::Endpoint& endpoint = config.endpoints[target.endpoint];
  metering::LedgerRow row;
  row.keep_alive = e.snapshot;
  row.set_request_id(e.request_id);
  row.finished_ms = unix_millis(wall_finished);
  row.started_ms =
      row.finished_ms - static_cast<std::int64_t>(seconds_between(e.started, e.finished) * 1000);
  row.key_id = e.principal.id();
  row.team = e.principal.team();
  row.alias = config.models[e.alias.value_or(e.target->first)].name;
  row.route = config.routes[*e.route].name;
  row.slo_class = config.slo_classes[*e.slo_class].name;
  // The endpoint that served it, or the last one tried.
  row.endpoint = endpoint.name;
  row.endpoint_kind = config::to_string(endpoint.kind);
  row.upstream_model = target.upstream_model;
  if (e.usage) {
    row.input_tokens = e.usage->input;
    row.cached_tokens = e.usage->cached_input;
    row.cache_write_tokens = e.usage->cache_write;
    row.reasoning_tokens = e.usage->reasoning;
    row.output_tokens = e.usage->output;
  }
  row.cost = e.charge.marginal;
  row.amortized_cost = e.charge.charged;
  if (e.first_byte) row.ttft_ms = seconds_between(e.started, *e.first_byte) * 1000.0;
  row.duration_ms = seconds_between(e.started, e.finished) * 1000.0;
  row.queued_ms = std::chrono::duration<double, std::milli>(e.queued).count();
  row.status = e.status;
  row.outcome = e.late ? "abandoned" : metering::to_string(e.outcome);
  row.attempts = e.attempts;
  row.estimated = e.usage_estimated;
  ledger.record(std::move(row));
}

}  // namespace

Charge charge_for(const config::Endpoint& endpoint, const config::Target& target,
                  const core::Usage& usage, core::Clock::duration held, bool flex) {
  Charge charge;
  charge.marginal =
      metering::marginal_cost(flex && target.flex_price ? *target.flex_price : target.price, usage);
  charge.charged = endpoint.kind == config::EndpointKind::provisioned
                       ? metering::amortized_cost(endpoint, usage, held)
                       : charge.marginal;
  return charge;
}

void meter_event(const MeterEvent& e, Runtime& runtime, metering::BudgetReservation& budget,
                 auth::RateReservation& rate, SharedHolds& shared, SharedState* shared_state) {
  const Snapshot& snapshot = *e.snapshot;
  const metering::MeterTable& table = *snapshot.meters;
  const std::size_t team = table.team_index(e.principal.team());
  const metering::TargetMeters* meters =
      e.answered ? &table.by_alias[e.target->first][e.target->second] : nullptr;
  if (e.late) {
    if (e.usage) runtime.metrics().add_usage(*meters, *e.usage, e.charge.charged, team);
  } else {
    metering::Completion completion;
    completion.meters = meters;
    completion.alias_index = e.alias;
    completion.route = e.route;
    completion.slo_class = e.slo_class;
    completion.team = team;
    completion.outcome = e.outcome;
    completion.usage = e.usage;
    completion.cost = e.charge.charged;
    completion.duration_seconds = seconds_between(e.started, e.finished);
    if (e.first_byte) completion.ttft_seconds = seconds_between(e.started, *e.first_byte);
    runtime.metrics().record(table, completion);
  }
  if (e.answered && e.usage) {
    const std::size_t endpoint =
        snapshot.config.models[e.target->first].targets[e.target->second].endpoint;
    if (auto* meter = snapshot.economics->meter(endpoint)) {
      meter->served(e.finished, snapshot.config.endpoints[endpoint], *e.usage, e.charge.charged);
    }
  }
  const core::WallTime wall_finished = core::WallClock::now();
  const std::uint64_t used_tokens =
      e.usage ? static_cast<std::uint64_t>(e.usage->input + e.usage->output) : 0;
  // Spend admitted without Redis (it was away, so the book held it; or a late answer) is
  // added there too: now, or owed and sent at the worker's next renewal.
  const bool held_here = budget.held() || e.late;
  if (budget.held()) {
    budget.settle(e.charge.marginal, wall_finished);
  } else if (e.late || shared.holds_budgets()) {
    // This replica's own record of the spend, for while Redis is away.
    snapshot.budgets->settle(e.principal.id(), e.principal.team(), core::Money{}, e.charge.marginal,
                             wall_finished);
  }
  if (held_here && shared_state != nullptr && e.charge.marginal.nano_usd != 0) {
    shared_state->settle_budget(
        shared_budgets(snapshot.config, *snapshot.budgets, snapshot.config.state.redis->key_prefix,
                       e.principal.id(), e.principal.team(), wall_finished),
        core::Money{}, e.charge.marginal);
  }
  shared.settle(e.charge.marginal, used_tokens, &*snapshot.budgets, wall_finished);
  rate.settle(used_tokens, e.finished);
  // Only requests that reached an upstream have a row.
  if (metering::Ledger* ledger = runtime.ledger(); ledger != nullptr && e.target && e.route) {
    write_ledger_row(e, *ledger, wall_finished);
  }
}

void ProxyRequest::meter() {
  if (metered_) return;  // the last resort, after an answer was already metered
  metered_ = true;
  MeterEvent e(snapshot_);
  e.request_id = id_.view();
  e.principal = principal_;
  if (alias_ != nullptr) e.alias = static_cast<std::size_t>(alias_ - config_.models.data());
  if (serving_ != nullptr) e.target = std::pair(serving_->alias, serving_->target);
  e.answered = answer_.has_value();
  if (routed_) {
    e.route = plan_.route;
    e.slo_class = plan_.slo_class;
  }
  e.outcome = outcome_;
  e.status = status_;
  e.attempts = attempts_;
  if (answer_) {
    e.usage = answer_->usage;
    e.first_byte = answer_->first_byte;
  }
  e.usage_estimated = usage_estimated_;
  e.charge = charge_;
  e.started = started_;
  e.finished = core::Clock::now();
  e.queued = queued_;
  if (!e.first_byte && failure_) e.first_byte = e.finished;
  meter_event(e, runtime_, budget_, rate_, shared_holds_, worker_.shared.get());
  if (routed_) record_routing(e);

  const config::Endpoint* endpoint =
      serving_ != nullptr && answer_ ? &config_.endpoints[serving_->endpoint] : nullptr;
  const double duration_ms = seconds_between(started_, e.finished) * 1000.0;
  worker_.access_log.append(AccessRecord{
      .request_id = id_.view(),
      .operation = operation_name(request_.operation),
      .alias = alias_ != nullptr ? std::string_view(alias_->name) : std::string_view{},
      .endpoint = endpoint != nullptr ? std::string_view(endpoint->name) : std::string_view{},
      .route = routed_ ? std::string_view(config_.routes[plan_.route].name) : std::string_view{},
      .slo_class = routed_ ? std::string_view(config_.slo_classes[plan_.slo_class].name)
                           : std::string_view{},
      .reason = reason_,
      .status = status_,
      .outcome = outcome_,
      .stream = request_.stream,
      .attempts = attempts_,
      .usage = e.usage,
      .cost = charge_.charged,
      .duration_ms = duration_ms,
      .ttft_ms = e.first_byte ? std::optional(seconds_between(started_, *e.first_byte) * 1000.0)
                              : std::nullopt,
  });
}

void ProxyRequest::record_routing(const MeterEvent& e) {
  const metering::MeterTable& table = *snapshot_->meters;
  metering::Metrics& metrics = runtime_.metrics();
  const std::optional<std::size_t> endpoint =
      e.answered ? std::optional(serving_->endpoint) : std::nullopt;
  // The metric's reason leaves out the classifier tier: that is a property of the request.
  std::string_view reason = reason_;
  if (const auto comma = reason.rfind(", "); comma != std::string_view::npos) {
    reason.remove_prefix(comma + 2);
  }
  metrics.decision(table, plan_.route, endpoint, reason);
  if (endpoint && spilled_from_ && *spilled_from_ != *endpoint) {
    // Spillover is leaving paid-for capacity; a move to another unit is not.
    if (config_.endpoints[*endpoint].kind == config::EndpointKind::provisioned) {
      metrics.unit_move(config_.endpoints[*spilled_from_].name, config_.endpoints[*endpoint].name,
                        spill_reason_);
    } else {
      metrics.spillover(table, *spilled_from_, *endpoint, spill_reason_);
    }
  }
  if (endpoint && outcome_ == Outcome::success) {
    const config::SloClass& slo = config_.slo_classes[plan_.slo_class];
    const double ttft = e.first_byte ? seconds_between(started_, *e.first_byte) : 0;
    if (ttft > std::chrono::duration<double>(slo.ttft).count() ||
        seconds_between(started_, e.finished) > std::chrono::duration<double>(slo.e2e).count()) {
      metrics.slo_violation(table, plan_.slo_class);
    }
  }
}

}  // namespace fulcrum::net
