#include "proxy_request.hpp"

#include <spdlog/spdlog.h>

#include "fulcrum/api/prompt_features.hpp"
#include "fulcrum/net/http_util.hpp"
#include "fulcrum/net/spawn.hpp"
#include "late_answer.hpp"
#include "request_meter.hpp"

namespace fulcrum::net {

ProxyRequest::ProxyRequest(Runtime& runtime, Worker& worker, ClientReply& reply, Request& request,
                           api::Operation op)
    : runtime_(runtime),
      worker_(worker),
      reply_(reply),
      http_request_(request),
      snapshot_(runtime.snapshot()),
      config_(snapshot_->config),
      id_(worker.ids.next()),
      started_(core::Clock::now()) {
  request_.operation = op;  // for the access line even when the body does not parse
  reply_.set_request_id(id_.view());
}

awaitable<void> ProxyRequest::run() {
  std::exception_ptr thrown;
  try {
    co_await stages();
  } catch (...) {
    thrown = std::current_exception();
  }
  if (!thrown) co_return;
  // The last resort, outside the catch (no co_await may run inside one): logged with the
  // request's id, metered as an internal error unless it already was, and answered as well
  // as the response's state still allows. Reservations and slots went with their guards.
  std::string message;
  spdlog::error("request_failed request_id={} error=\"{}\"", id_.view(), describe(thrown, message));
  outcome_ = metering::Outcome::internal_error;
  if (reply_.progress() == ClientReply::Progress::nothing) status_ = 500;
  meter();
  // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
  const auto error =
      api::ApiError::internal("Fulcrum failed while handling request " + std::string(id_.view()) +
                              "; the failure is logged. Retry the request.");
  co_await reply_.fail(error);
}

config::Api api_of(api::Operation op) {
  switch (op) {
    case api::Operation::chat_completions:
      return config::Api::chat;
    case api::Operation::completions:
      return config::Api::completions;
    case api::Operation::embeddings:
      return config::Api::embeddings;
    case api::Operation::responses:
      return config::Api::responses;
    case api::Operation::messages:
      return config::Api::messages;
  }
  return config::Api::chat;
}

awaitable<void> ProxyRequest::stages() {
  if (auto refused = admit()) co_return co_await refuse(*refused);
  if (auto refused = route()) co_return co_await refuse(*refused);
  const std::optional<Refusal> unreserved = co_await reserve();
  if (unreserved) co_return co_await refuse(*unreserved);
  co_await walk();
}

// The plan, for the alias a soft budget may have downgraded the request to.
std::optional<Refusal> ProxyRequest::route() {
  std::vector<std::string_view> header_values(config_.route_headers.size());
  for (std::size_t i = 0; i < header_values.size(); ++i) {
    header_values[i] = field_value(http_request_, config_.route_headers[i]);
  }
  const core::WallTime wall_now = core::WallClock::now();
  const metering::BudgetAdmission soft =
      snapshot_->budgets->check_soft(principal_.id(), principal_.team(), wall_now);
  // A continued conversation cannot change endpoints, so it is never downgraded: it goes the
  // way admission found to its endpoint.
  const config::ModelAlias* routed_alias = pinned_alias_ != nullptr ? pinned_alias_ : alias_;
  if (soft.downgrade_to && pinned_alias_ == nullptr) {
    routed_alias = &config_.models[*soft.downgrade_to];
    runtime_.metrics().budget_action(*snapshot_->meters, *soft.soft_budget, "downgraded");
  } else if (soft.soft_budget) {
    runtime_.metrics().budget_action(*snapshot_->meters, *soft.soft_budget, "soft_exceeded");
  }

  static const std::vector<std::string> kNoKeywords;
  router::RouteInput input;
  input.alias = routed_alias;
  input.slo_class = slo_class_;
  input.header_values = header_values;
  // Keywords only matter to the classifier; scanning a long prompt for them is not free.
  input.prompt = api::prompt_features(
      request_, routed_alias->classify ? config_.classifier.keywords : kNoKeywords);
  input.now = core::Clock::now();
  input.wall_now = wall_now;
  input.random = worker_.random();
  input.api = api_of(request_.operation);
  input.only_endpoint = pinned_endpoint_;
  plan_ = router::choose(input, config_, *snapshot_->live);
  prompt_ = input.prompt;
  routed_ = true;
  if (plan_.tier)
    classifier_prefix_ = "classifier:" + config_.classifier.tiers[*plan_.tier].name + ", ";
  if (pinned_endpoint_) {
    // The router only saw the endpoint that stored the conversation; that is the reason.
    reason_ = classifier_prefix_ + "pinned:previous_response";
    return std::nullopt;
  }
  reason_ = classifier_prefix_ + (soft.downgrade_to ? "budget-downgrade, " : "") +
            std::string(plan_.reason);
  spilled_from_ = plan_.spilled_from;
  spill_reason_ = plan_.spill_reason;
  return std::nullopt;
}

awaitable<void> ProxyRequest::refuse(const Refusal& refusal) {
  failure_ = refusal.error;
  status_ = refusal.error.status;
  // The walk has said why when the upstreams refused; otherwise a 4xx is the client's.
  if (status_ < 500 && outcome_ == metering::Outcome::success) {
    outcome_ = metering::Outcome::client_error;
  }
  meter();
  // In the shape of the client's API: Anthropic's on /v1/messages.
  auto response = json_response(refusal.error.status, refusal.error.to_json(request_.operation),
                                reply_.version(), reply_.keep_alive());
  if (refusal.body) {
    response.body() = *refusal.body;
    response.set(http::field::content_type,
                 refusal.content_type.empty() ? "application/json" : refusal.content_type);
    response.prepare_payload();
  }
  response.set("x-fulcrum-request-id", id_.view());
  // Who served is news only when someone did: a 5xx of Fulcrum's own names no endpoint.
  if (serving_ != nullptr && status_ < 500) {
    response.set("x-fulcrum-endpoint", config_.endpoints[serving_->endpoint].name);
  }
  if (routed_) {
    response.set("x-fulcrum-route", config_.routes[plan_.route].name);
    response.set("x-fulcrum-reason", reason_);
  }
  for (const auto& [name, value] : refusal.headers) response.set(name, value);
  co_await reply_.send(response);
}

Charge ProxyRequest::on_answer(const Answer& answer) {
  answer_ = answer;
  status_ = answer.status;
  outcome_ = answer.outcome;
  const config::Target& target = config_.models[serving_->alias].targets[serving_->target];
  const config::Endpoint& endpoint = config_.endpoints[target.endpoint];
  if (!answer_->usage && answer.status == 200) {
    // Served, but the upstream reported no usage: estimated from what passed through, and
    // the ledger says so.
    answer_->usage = api::estimate_usage(prompt_.estimated_tokens, answer.generated_chars);
    usage_estimated_ = true;
  }
  if (answer_->usage) {
    charge_ = charge_for(endpoint, target, *answer_->usage, core::Clock::now() - attempt_started_,
                         serving_flex_);
  }
  // A response is worth pinning when the upstream kept it: served in full, or cut off by the
  // client (it can read the rest later); not one that failed.
  const bool kept = answer.status == 200 && (answer.outcome == metering::Outcome::success ||
                                             answer.outcome == metering::Outcome::client_closed);
  if (kept && !answer.response_id.empty()) {
    runtime_.response_pins.pin(answer.response_id,
                               {endpoint.name, std::string(principal_.id()), alias_->name,
                                config_.models[serving_->alias].name});
  }
  meter();
  return charge_;
}

void ProxyRequest::on_abandoned(std::unique_ptr<UpstreamConnection> connection,
                                TimePoint attempt_started, TimePoint deadline) {
  LateAnswer late;
  late.snapshot = snapshot_;
  late.alias = serving_->alias;
  late.target = serving_->target;
  late.route = plan_.route;
  late.operation = request_.operation;
  late.slo_class = plan_.slo_class;
  late.request_id = std::string(id_.view());
  late.principal = principal_;
  late.shared = worker_.shared.get();
  late.attempt_started = attempt_started;
  late.deadline = deadline;
  late.flex = serving_flex_;
  asio::co_spawn(worker_.io, meter_late_answer(std::move(connection), std::move(late), runtime_),
                 log_if_thrown("late_answer"));
}

}  // namespace fulcrum::net
