// Metering of the data plane: metrics, routing metrics, access line, budget and rate-limit
// settlement, and the ledger row. Runs once per request, before its last byte leaves.
#include <spdlog/spdlog.h>

#include "access_log.hpp"
#include "exchange.hpp"
#include "fulcrum/metering/cost.hpp"
#include "fulcrum/metering/provisioned.hpp"

namespace fulcrum::net {
namespace {

using metering::Outcome;

double millis_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

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
  }
  return "unknown";
}

}  // namespace

// Records the request once, before its last byte leaves: a client that has read its whole
// response can already see it in /metrics.
void ProxyHandler::meter(Exchange& ex) {
  if (ex.metered) return;
  ex.metered = true;
  const metering::MeterTable& table = *ex.snapshot->meters;
  const TimePoint finished = core::Clock::now();
  metering::Completion completion;
  completion.meters = ex.meters;
  if (ex.alias) completion.alias_index = ex.alias_index;
  completion.outcome = ex.outcome;
  if (!ex.usage && ex.meters != nullptr && ex.status == 200) {
    // Served, but the upstream reported no usage: estimate it from what passed through,
    // and say so in the ledger.
    ex.usage = api::estimate_usage(ex.prompt_tokens, ex.generated_chars);
    ex.usage_estimated = true;
    ex.cost = metering::marginal_cost(ex.target->price, *ex.usage);
    ex.charged = false;
  }
  if (!ex.charged) charge(ex);
  if (ex.usage && ex.meters != nullptr) {
    if (auto* meter = ex.snapshot->economics->meter(ex.target->endpoint)) {
      meter->served(finished, *ex.endpoint, *ex.usage, ex.chargeback);
    }
  }
  completion.usage = ex.usage;
  completion.cost = ex.chargeback;
  completion.duration_seconds = millis_between(ex.started, finished) / 1000.0;
  if (ex.first_byte) completion.ttft_seconds = millis_between(ex.started, *ex.first_byte) / 1000.0;
  completion.team = table.team_index(ex.principal.team());
  if (ex.routed) {
    completion.route = ex.plan.route;
    completion.slo_class = ex.plan.slo_class;
  }
  metering::Metrics& metrics = runtime_.metrics();
  metrics.record(table, completion);
  if (ex.routed) record_routing(ex, completion);
  account(ex, completion);

  worker_.access_log.append(AccessRecord{
      .request_id = ex.id.view(),
      .operation = operation_name(ex.request.operation),
      .alias = ex.alias ? std::string_view(ex.alias->name) : std::string_view{},
      .endpoint =
          ex.meters && ex.endpoint ? std::string_view(ex.endpoint->name) : std::string_view{},
      .route = ex.route_name,
      .slo_class = ex.routed
                       ? std::string_view(ex.snapshot->config.slo_classes[ex.plan.slo_class].name)
                       : std::string_view{},
      .reason = ex.reason,
      .status = ex.status,
      .outcome = ex.outcome,
      .stream = ex.request.stream,
      .attempts = ex.attempts,
      .usage = ex.usage,
      .cost = ex.chargeback,
      .duration_ms = completion.duration_seconds * 1000.0,
      .ttft_ms =
          completion.ttft_seconds ? std::optional(*completion.ttft_seconds * 1000.0) : std::nullopt,
  });
}

void ProxyHandler::charge(Exchange& ex) {
  if (!ex.usage || ex.endpoint == nullptr) return;
  ex.charged = true;
  ex.chargeback = ex.endpoint->kind == config::EndpointKind::provisioned
                      ? metering::amortized_cost(*ex.endpoint, *ex.usage,
                                                 core::Clock::now() - ex.attempt_started)
                      : ex.cost;
}

void ProxyHandler::record_routing(const Exchange& ex, const metering::Completion& completion) {
  const metering::MeterTable& table = *ex.snapshot->meters;
  metering::Metrics& metrics = runtime_.metrics();
  const bool served = ex.meters != nullptr && ex.candidate != nullptr;
  const std::optional<std::size_t> endpoint =
      served ? std::optional(ex.candidate->endpoint) : std::nullopt;
  // The metric's reason leaves out the classifier tier: that is a property of the request.
  std::string_view reason = ex.reason;
  if (const auto comma = reason.rfind(", "); comma != std::string_view::npos) {
    reason.remove_prefix(comma + 2);
  }
  metrics.decision(table, ex.plan.route, endpoint, reason);
  if (served && ex.spilled_from && *ex.spilled_from != *endpoint) {
    metrics.spillover(table, *ex.spilled_from, *endpoint, ex.spill_reason);
  }
  if (served && ex.outcome == Outcome::success) {
    const config::SloClass& slo = ex.snapshot->config.slo_classes[ex.plan.slo_class];
    const double ttft_target = std::chrono::duration<double>(slo.ttft).count();
    const double e2e_target = std::chrono::duration<double>(slo.e2e).count();
    if (completion.ttft_seconds.value_or(0) > ttft_target ||
        completion.duration_seconds > e2e_target) {
      metrics.slo_violation(table, ex.plan.slo_class);
    }
  }
}

void ProxyHandler::account(Exchange& ex, const metering::Completion& completion) {
  const std::int64_t used_tokens = ex.usage ? ex.usage->input + ex.usage->output : 0;
  if (ex.tokens_reserved) {
    ex.snapshot->rate_limits->settle(ex.principal.key_index, ex.reserved_tokens,
                                     static_cast<std::uint64_t>(used_tokens), core::Clock::now());
  }
  const core::WallTime wall_finished = core::WallClock::now();
  if (ex.cost_reserved) {
    ex.snapshot->budgets->settle(ex.principal.id(), ex.principal.team(), ex.reserved_cost, ex.cost,
                                 wall_finished);
  }
  metering::Ledger* ledger = runtime_.ledger();
  if (ledger == nullptr || ex.attempts == 0) return;  // only requests that reached an upstream

  const config::Config& config = ex.snapshot->config;
  metering::LedgerRow row;
  row.keep_alive = ex.snapshot;
  row.set_request_id(ex.id.view());
  row.finished_ms = unix_millis(wall_finished);
  row.started_ms = row.finished_ms - static_cast<std::int64_t>(completion.duration_seconds * 1000);
  row.key_id = ex.principal.id();
  row.team = ex.principal.team();
  row.alias = ex.alias->name;
  row.route = config.routes[ex.plan.route].name;
  row.slo_class = config.slo_classes[ex.plan.slo_class].name;
  // The endpoint that served it, or the last one tried.
  row.endpoint = ex.endpoint->name;
  row.endpoint_kind = config::to_string(ex.endpoint->kind);
  row.upstream_model = ex.target->upstream_model;
  if (ex.usage) {
    row.input_tokens = ex.usage->input;
    row.cached_tokens = ex.usage->cached_input;
    row.output_tokens = ex.usage->output;
  }
  row.cost = ex.cost;
  row.amortized_cost = ex.chargeback;
  if (completion.ttft_seconds) row.ttft_ms = *completion.ttft_seconds * 1000.0;
  row.duration_ms = completion.duration_seconds * 1000.0;
  row.status = ex.status;
  row.outcome = metering::to_string(ex.outcome);
  row.attempts = ex.attempts;
  row.estimated = ex.usage_estimated;
  ledger->record(std::move(row));
}

}  // namespace fulcrum::net
