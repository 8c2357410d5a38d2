// Admission: who asks, for what, in which class; then what the request may hold under its
// key's rate limits and the budgets that cover it.
#include <algorithm>

#include "fulcrum/net/http_util.hpp"
#include "proxy_request.hpp"

namespace fulcrum::net {
namespace {

bool may_use(const auth::Principal& principal, const config::ModelAlias* alias,
             const config::Config& config) {
  if (principal.key == nullptr || principal.key->models.empty()) return true;
  const auto index = static_cast<std::size_t>(alias - config.models.data());
  const auto& allowed = principal.key->models;
  return std::find(allowed.begin(), allowed.end(), index) != allowed.end();
}

// Whether any endpoint the alias may reach serves `api` (a classifying alias through its tiers).
bool serves(const config::Config& config, const config::ModelAlias& alias, config::Api api) {
  for (const config::Target& target : alias.targets) {
    if (config.endpoints[target.endpoint].serves(api)) return true;
  }
  for (std::size_t tier : alias.tier_alias) {
    if (&config.models[tier] != &alias && serves(config, config.models[tier], api)) return true;
  }
  return false;
}

std::string known_classes(const config::Config& config) {
  std::string names;
  for (const auto& slo : config.slo_classes) names += (names.empty() ? "" : ", ") + slo.name;
  return names;
}

// A key's RPM or TPM limit reached: OpenAI's error, x-ratelimit-* headers and Retry-After.
Refusal rate_limited(const auth::Principal& principal, const auth::RateDecision& decision) {
  const std::string_view kind = decision.requests_exhausted ? "requests" : "tokens";
  const auth::LimitStatus& status =
      decision.requests_exhausted ? decision.requests : decision.tokens;
  Refusal refusal{api::ApiError::rate_limited(
                      kind, "Rate limit reached for key '" + principal.key->id +
                                "': " + std::to_string(status.limit) + " " + std::string(kind) +
                                " per minute. Please try again in " +
                                auth::format_reset(decision.retry_after) + "."),
                  {}};
  for (const auto& [suffix, limit] :
       {std::pair{"requests", decision.requests}, {"tokens", decision.tokens}}) {
    if (limit.limit == 0) continue;
    const std::string name(suffix);
    refusal.headers.emplace_back("x-ratelimit-limit-" + name, std::to_string(limit.limit));
    refusal.headers.emplace_back("x-ratelimit-remaining-" + name, std::to_string(limit.remaining));
    refusal.headers.emplace_back("x-ratelimit-reset-" + name, auth::format_reset(limit.reset));
  }
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(decision.retry_after).count();
  refusal.headers.emplace_back("retry-after", std::to_string(std::max<std::int64_t>(1, seconds)));
  return refusal;
}

// A hard budget said no: exhausted, or this request's estimate is more than what is left.
Refusal over_budget(const config::Budget& budget, const metering::BudgetAdmission& admission,
                    core::Money estimate) {
  const auto seconds = std::max<std::int64_t>(1, admission.retry_after.count());
  const std::string message =
      admission.left ? "This request's estimated cost $" + estimate.to_decimal() +
                           " exceeds the $" + admission.left->to_decimal() + " left in budget '" +
                           budget.name + "' for this period."
                     : "Budget '" + budget.name + "' is exhausted for this period; it resets in " +
                           std::to_string(seconds) + " s.";
  // x-should-retry: the openai SDKs would otherwise retry a 429 at once, or (openai-node 6)
  // sleep for the whole Retry-After, hours until the budget resets.
  return Refusal{api::ApiError::insufficient_quota(message),
                 {{"retry-after", std::to_string(seconds)}, {"x-should-retry", "false"}}};
}

// Whether a request for `alias` may be served by `endpoint`. A classifying alias has no
// targets of its own: its tiers' aliases have them.
bool reaches(const config::Config& config, const config::ModelAlias& alias, std::size_t endpoint) {
  const auto on_endpoint = [&](const config::Target& t) { return t.endpoint == endpoint; };
  if (std::any_of(alias.targets.begin(), alias.targets.end(), on_endpoint)) return true;
  return std::any_of(alias.tier_alias.begin(), alias.tier_alias.end(), [&](std::size_t tier) {
    const auto& targets = config.models[tier].targets;
    return std::any_of(targets.begin(), targets.end(), on_endpoint);
  });
}

}  // namespace

api::ApiError authentication_error(auth::AuthFailure failure) {
  return api::ApiError::unauthorized(
      failure == auth::AuthFailure::missing_key
          ? "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'."
          : "Incorrect API key provided.");
}

std::optional<Refusal> ProxyRequest::admit() {
  // Who asks comes first: without a valid key nothing else is looked at.
  // Anthropic's SDKs send the key as x-api-key (or, newer, as a bearer token); it is read
  // here and, like Authorization, never forwarded.
  std::string anthropic_key;
  std::string_view authorization = field_value(http_request_, http::field::authorization);
  if (authorization.empty() && request_.operation == api::Operation::messages) {
    if (const std::string_view key = field_value(http_request_, "x-api-key"); !key.empty()) {
      anthropic_key = "Bearer " + std::string(key);
      authorization = anthropic_key;
    }
  }
  auto principal = auth::authenticate(authorization, config_);
  if (!principal) {
    api::ApiError refused = authentication_error(principal.error());
    if (request_.operation == api::Operation::messages &&
        principal.error() == auth::AuthFailure::missing_key) {
      refused.message = "You didn't provide an API key. Send it as 'x-api-key: KEY'.";
    }
    return Refusal{refused};
  }
  principal_ = *principal;
  // The body moves into the parsed request: it is forwarded from there, spliced, never copied.
  auto parsed = api::parse_request(request_.operation, std::move(http_request_.body()));
  if (!parsed) return Refusal{parsed.error(), {}};
  request_ = std::move(*parsed);
  alias_ = config_.find_alias(request_.model);
  if (alias_ == nullptr) return Refusal{api::ApiError::model_not_found(request_.model), {}};
  if (!may_use(principal_, alias_, config_)) {
    return Refusal{api::ApiError::model_not_allowed(request_.model), {}};
  }
  if (!serves(config_, *alias_, api_of(request_.operation))) {
    return Refusal{api::ApiError::invalid_request(
        "The model '" + request_.model + "' has no endpoint that serves the " +
            std::string(config::to_string(api_of(request_.operation))) +
            " API (see each endpoint's apis).",
        "model", "unsupported_api")};
  }
  if (!request_.previous_response_id.empty()) {
    if (auto refused = pin_to_stored_response()) return refused;
  }
  if (const std::string_view priority = field_value(http_request_, "x-fulcrum-priority");
      !priority.empty()) {
    slo_class_ = config_.find_slo_class(priority);
    if (!slo_class_) {
      return Refusal{api::ApiError::invalid_request(
                         "The x-fulcrum-priority header names an unknown SLO class '" +
                             std::string(priority.substr(0, 64)) +
                             "'. Known classes: " + known_classes(config_) + ".",
                         "x-fulcrum-priority"),
                     {}};
    }
  } else if (principal_.key != nullptr) {
    slo_class_ = principal_.key->slo;
  }
  return std::nullopt;
}

// previous_response_id continues a conversation stored by one endpoint: the request may go
// there only. Unknown ids, ids another key created, and endpoints the alias does not reach are
// all "not found", as OpenAI answers for an id it does not have.
std::optional<Refusal> ProxyRequest::pin_to_stored_response() {
  const std::string& id = request_.previous_response_id;
  const auto pin = runtime_.response_pins.find(id, principal_.id());
  const auto not_found = [&] {
    return Refusal{api::ApiError::response_not_found(id, "previous_response_id"), {}};
  };
  if (!pin) return not_found();
  const auto endpoint = config_.find_endpoint(pin->endpoint);
  // Asked for the same alias, the follow-up goes the way the first turn went (a fallback or a
  // downgrade may have served it); asked for another, that alias must reach the endpoint.
  const config::ModelAlias* served = config_.find_alias(pin->served);
  if (endpoint && pin->asked == alias_->name && served != nullptr &&
      reaches(config_, *served, *endpoint)) {
    pinned_alias_ = served;
  } else if (endpoint && reaches(config_, *alias_, *endpoint)) {
    pinned_alias_ = alias_;
  } else {
    Refusal refusal = not_found();
    refusal.error.message = "Response with id '" + id.substr(0, 256) + "' is stored by endpoint '" +
                            pin->endpoint + "', which serves no target of model '" +
                            request_.model + "'.";
    return refusal;
  }
  pinned_endpoint_ = endpoint;
  return std::nullopt;
}

// Shared state unreachable and the feature's on_state_unavailable is closed.
Refusal state_unavailable(std::string_view feature) {
  return Refusal{api::ApiError::service_unavailable(
      "Fulcrum cannot check " + std::string(feature) +
      " now: the state shared by its replicas is unreachable "
      "(state.on_state_unavailable is closed). Please retry shortly.")};
}

// Rate limits, then budgets: the request's estimated tokens and cost are held by guards until
// it is metered (or given back, however it ends). With state.redis they are held in Redis,
// across every replica, both asked in one round trip; when Redis does not answer in time,
// each feature follows its on_state_unavailable mode.
awaitable<std::optional<Refusal>> ProxyRequest::reserve() {
  const config::ApiKey* key = principal_.key;
  const std::uint64_t tokens = key != nullptr ? estimated_tokens() : 0;
  // The most this request can cost, should it end on its dearest target.
  core::Money estimate;
  for (const router::Candidate& candidate : plan_.attempts) {
    estimate = std::max(estimate, candidate.estimated_cost);
  }
  const core::WallTime now = core::WallClock::now();
  bool rate_decided = key == nullptr;
  bool budgets_decided = false;
  if (SharedState* shared = worker_.shared.get()) {
    const config::ApiKey* limited =
        key != nullptr && (key->rpm > 0 || key->tpm > 0) ? key : nullptr;
    std::vector<SharedBudget> covering =
        shared_budgets(config_, *snapshot_->budgets, config_.state.redis->key_prefix,
                       principal_.id(), principal_.team(), now);
    std::optional<SharedState::SlotRequest> slot;
    if (!plan_.attempts.empty() && plan_.attempts.front().class_limit > 0) {
      const router::Candidate& first = plan_.attempts.front();
      slot = SharedState::SlotRequest{config_.endpoints[first.endpoint].name, first.class_limit};
    }
    if (limited != nullptr || !covering.empty() || slot) {
      const SharedState::SlotRequest* slot_request = slot ? &*slot : nullptr;
      const SharedState::Admission answer =
          co_await shared->admit(limited, tokens, covering, estimate, slot_request);
      if (answer.slot) {
        first_slot_ = answer.slot;
        // Held from here, so that a refusal below gives it back.
        if (answer.slot->slot == SharedState::Slot::granted) {
          first_lease_.emplace(*shared, slot->endpoint, SharedSlot::Kind::granted);
        }
      }
      // Everything Redis granted is this request's from here, so that whichever refusal
      // answers the client, the rest is given back (as the in-process guards would): the
      // rate limit's tokens, the budgets' holds.
      if (limited != nullptr && answer.rate && answer.rate->allowed) {
        shared_holds_.hold_rate(*shared, *limited, tokens);
        rate_decided = true;
      }
      std::optional<Refusal> over;
      if (!covering.empty()) {
        over = shared_budget_verdict(answer, covering, estimate, now);
        budgets_decided = shared_holds_.holds_budgets() || over.has_value();
      }
      // The rate limit speaks first, as in one process.
      if (limited != nullptr && answer.rate && !answer.rate->allowed) {
        co_return rate_limited(principal_, *answer.rate);
      }
      if (limited != nullptr && !answer.rate) {
        shared->count_unavailable(SharedState::Feature::rate_limits);
        if (config_.state.rate_limits == config::WhenStateUnavailable::closed) {
          co_return state_unavailable("rate limits");
        }
      }
      if (over) co_return over;
    }
  }
  if (!rate_decided) {
    // In process: the whole limit, or this replica's share while Redis is away.
    const auth::RateDecision decision =
        snapshot_->rate_limits->admit(principal_.key_index, tokens, core::Clock::now());
    if (!decision.allowed) co_return rate_limited(principal_, decision);
    rate_ = auth::RateReservation(*snapshot_->rate_limits, principal_.key_index, tokens);
  }
  if (budgets_decided) co_return std::nullopt;
  // In process: this replica's spend, which includes the fleet's as Redis last reported it.
  metering::BudgetBook& book = *snapshot_->budgets;
  const metering::BudgetAdmission admission =
      book.reserve(principal_.id(), principal_.team(), estimate, now);
  if (!admission.allowed) {
    runtime_.metrics().budget_action(*snapshot_->meters, *admission.refused_by, "rejected");
    co_return over_budget(config_.budgets[*admission.refused_by], admission, estimate);
  }
  budget_ = metering::BudgetReservation(book, principal_.id(), principal_.team(), estimate);
  co_return std::nullopt;
}

// What the request may use: its prompt and the output it asks for (or the route's average).
std::uint64_t ProxyRequest::estimated_tokens() const {
  const double expected_output = prompt_.max_tokens
                                     ? static_cast<double>(*prompt_.max_tokens)
                                     : snapshot_->live->expected_output_tokens(plan_.route);
  // Bounded: max_tokens and n are each at most 2^31 - 1 (api/request.cpp).
  return prompt_.estimated_tokens +
         static_cast<std::uint64_t>(
             std::min(expected_output * static_cast<double>(prompt_.choices), 9e18));
}

// Redis's answer for the budgets covering the request: a hold (kept in shared_holds_), a
// refusal, or, unanswered, nothing decided unless on_state_unavailable says closed.
std::optional<Refusal> ProxyRequest::shared_budget_verdict(const SharedState::Admission& answer,
                                                           std::vector<SharedBudget>& covering,
                                                           core::Money estimate,
                                                           core::WallTime now) {
  SharedState& shared = *worker_.shared;
  if (!answer.budgets) {
    shared.count_unavailable(SharedState::Feature::budgets);
    const bool hard = std::any_of(covering.begin(), covering.end(),
                                  [](const SharedBudget& b) { return b.hard.has_value(); });
    if (hard && config_.state.budgets == config::WhenStateUnavailable::closed) {
      return state_unavailable("budgets");
    }
    return std::nullopt;
  }
  const SharedBudgetVerdict& verdict = *answer.budgets;
  for (std::size_t i = 0; i < verdict.spent.size(); ++i) {
    snapshot_->budgets->observe_spent(covering[i].index, verdict.spent[i], now);
    covering[i].known_spent = std::max(covering[i].known_spent, verdict.spent[i]);
  }
  if (!verdict.allowed) {
    const std::size_t index = *verdict.refused_by;
    snapshot_->budgets->observe_spent(index, verdict.refused_spent, now);
    metering::BudgetAdmission admission;
    admission.allowed = false;
    admission.refused_by = index;
    admission.left = verdict.left;
    admission.retry_after = std::chrono::ceil<std::chrono::seconds>(
        metering::period_at(config_.budgets[index], now).end - now);
    runtime_.metrics().budget_action(*snapshot_->meters, index, "rejected");
    return over_budget(config_.budgets[index], admission, estimate);
  }
  shared_holds_.hold_budgets(shared, std::move(covering), estimate);
  return std::nullopt;
}

}  // namespace fulcrum::net
