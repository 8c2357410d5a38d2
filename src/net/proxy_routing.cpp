// The routing half of the data plane: parse what routing needs, ask the router for a plan,
// and walk it with admission, circuit breakers, retries and the retry budget, feeding what
// each attempt taught back into the live state.
#include <spdlog/spdlog.h>

#include <functional>

#include "exchange.hpp"
#include "fulcrum/api/prompt_features.hpp"
#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {
namespace {

using metering::Outcome;

double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

// What went wrong, for x-fulcrum-reason: the status ("503") or the kind of failure.
std::string failure_label(unsigned status, bool timed_out, std::string_view kind) {
  if (status != 0) return std::to_string(status);
  if (timed_out) return "timeout";
  if (kind == "connect" || kind == "redirect") return std::string(kind);
  return "reset";
}

config::RetryOn retry_kind(unsigned status, bool timed_out) {
  if (status == 429) return config::RetryOn::status_429;
  if (status >= 500) return config::RetryOn::status_5xx;
  if (timed_out) return config::RetryOn::timeout;
  return config::RetryOn::connect;
}

// Exponential backoff with equal jitter: half the step fixed, half random.
core::Duration backoff(const config::RetryPolicy& policy, unsigned retry, std::uint64_t random) {
  const auto step = std::min<core::Duration::rep>(
      policy.backoff_max.count(), policy.backoff_base.count() << std::min(retry, 20u));
  const auto half = step / 2;
  return core::Duration(half +
                        (half > 0 ? static_cast<core::Duration::rep>(random % (half + 1)) : 0));
}

bool may_use(const auth::Principal& principal, const config::ModelAlias* alias,
             const config::Config& config) {
  if (principal.key == nullptr || principal.key->models.empty()) return true;
  const auto index = static_cast<std::size_t>(alias - config.models.data());
  const auto& allowed = principal.key->models;
  return std::find(allowed.begin(), allowed.end(), index) != allowed.end();
}

std::string known_classes(const config::Config& config) {
  std::string names;
  for (const auto& slo : config.slo_classes) names += (names.empty() ? "" : ", ") + slo.name;
  return names;
}

// Holds what an attempt took (an endpoint slot) until it is over.
class Release {
 public:
  template <class F>
  explicit Release(F f) : release_(std::move(f)) {}
  ~Release() {
    if (release_) release_();
  }
  Release(const Release&) = delete;
  Release& operator=(const Release&) = delete;

 private:
  std::function<void()> release_;
};

}  // namespace

awaitable<bool> ProxyHandler::proxy(beast::tcp_stream& client, Request& request,
                                    api::Operation op) {
  Exchange ex;
  ex.snapshot = runtime_.snapshot();
  ex.id = worker_.ids.next();
  ex.started = core::Clock::now();
  ex.version = request.version();
  ex.keep_alive = request.keep_alive();
  ex.request.operation = op;  // for the access line even when the body does not parse
  const config::Config& config = ex.snapshot->config;
  const core::Duration client_timeout = config.server.limits.idle_timeout;

  // Who asks comes first: without a valid key nothing else is looked at.
  auto principal = auth::authenticate(request[http::field::authorization], config);
  if (!principal) {
    ex.failure = api::ApiError::unauthorized(
        principal.error() == auth::AuthFailure::missing_key
            ? "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'."
            : "Incorrect API key provided.");
  } else {
    ex.principal = *principal;
    auto parsed = api::parse_request(op, request.body());
    if (!parsed) {
      ex.failure = parsed.error();
    } else {
      ex.request = std::move(*parsed);
      ex.alias = config.find_alias(ex.request.model);
      if (ex.alias == nullptr) ex.failure = api::ApiError::model_not_found(ex.request.model);
    }
  }
  if (!ex.failure && !may_use(ex.principal, ex.alias, config)) {
    ex.failure = api::ApiError::model_not_allowed(ex.request.model);
  }
  std::optional<std::size_t> slo_class;
  if (!ex.failure) {
    if (const std::string_view priority = request["x-fulcrum-priority"]; !priority.empty()) {
      slo_class = config.find_slo_class(priority);
      if (!slo_class) {
        ex.failure = api::ApiError::invalid_request(
            "The x-fulcrum-priority header names an unknown SLO class '" +
                std::string(priority.substr(0, 64)) + "'. Known classes: " + known_classes(config) +
                ".",
            "x-fulcrum-priority");
      }
    } else if (ex.principal.key != nullptr) {
      slo_class = ex.principal.key->slo;
    }
  }
  if (ex.failure) ex.outcome = Outcome::client_error;

  bool client_alive = true;
  if (!ex.failure) {
    ex.alias_index = static_cast<std::size_t>(ex.alias - config.models.data());
    std::vector<std::string_view> header_values(config.route_headers.size());
    for (std::size_t i = 0; i < header_values.size(); ++i) {
      header_values[i] = request[config.route_headers[i]];
    }
    // A soft budget with on_soft.downgrade_to sends the request to the cheaper alias.
    const core::WallTime wall_now = core::WallClock::now();
    const metering::BudgetAdmission soft =
        ex.snapshot->budgets->check_soft(ex.principal.id(), ex.principal.team(), wall_now);
    const config::ModelAlias* routed_alias = ex.alias;
    if (soft.downgrade_to) {
      routed_alias = &config.models[*soft.downgrade_to];
      runtime_.metrics().budget_action(*ex.snapshot->meters, *soft.soft_budget, "downgraded");
    } else if (soft.soft_budget) {
      runtime_.metrics().budget_action(*ex.snapshot->meters, *soft.soft_budget, "soft_exceeded");
    }

    static const std::vector<std::string> kNoKeywords;
    router::RouteInput input;
    input.alias = routed_alias;
    input.slo_class = slo_class;
    input.header_values = header_values;
    // Keywords only matter to the classifier; scanning a long prompt for them is not free.
    input.prompt = api::prompt_features(
        ex.request, routed_alias->classify ? config.classifier.keywords : kNoKeywords);
    input.now = core::Clock::now();
    input.wall_now = wall_now;
    input.random = worker_.random();
    ex.plan = router::choose(input, config, *ex.snapshot->live);
    ex.routed = true;
    ex.route_name = config.routes[ex.plan.route].name;
    ex.reason = std::string(ex.plan.reason);
    if (soft.downgrade_to) ex.reason = "budget-downgrade, " + ex.reason;
    ex.spilled_from = ex.plan.spilled_from;
    ex.spill_reason = ex.plan.spill_reason;
    ex.prompt_tokens = input.prompt.estimated_tokens;
    if (admit(ex, input.prompt)) client_alive = co_await run_plan(client, ex);
  }

  if (ex.failure) {
    auto res = error_response(*ex.failure, ex.version, ex.keep_alive);
    ex.decision_headers(res);
    for (const auto& [name, value] : ex.failure_headers) res.set(name, value);
    if (ex.failure->status >= 500) res.erase("x-fulcrum-endpoint");
    ex.status = ex.failure->status;
    if (!ex.first_byte) ex.first_byte = core::Clock::now();
    meter(ex);
    client_alive = co_await write_response(client, res, client_timeout);
  }

  meter(ex);
  const bool reusable = client_alive && ex.keep_alive;
  co_return reusable;
}

// Rate limits, then budgets: reserves the request's estimated tokens and cost, or answers 429.
bool ProxyHandler::admit(Exchange& ex, const router::PromptFeatures& prompt) {
  const config::Config& config = ex.snapshot->config;
  if (ex.principal.key != nullptr) {
    const double expected_output = prompt.max_tokens
                                       ? static_cast<double>(*prompt.max_tokens)
                                       : ex.snapshot->live->expected_output_tokens(ex.plan.route);
    const auto tokens =
        prompt.estimated_tokens + static_cast<std::uint64_t>(std::min(
                                      expected_output * static_cast<double>(prompt.choices), 9e18));
    const auth::RateDecision decision =
        ex.snapshot->rate_limits->admit(ex.principal.key_index, tokens, core::Clock::now());
    if (!decision.allowed) {
      const std::string_view kind = decision.requests_exhausted ? "requests" : "tokens";
      const auth::LimitStatus& status =
          decision.requests_exhausted ? decision.requests : decision.tokens;
      ex.failure = api::ApiError::rate_limited(
          kind, "Rate limit reached for key '" + ex.principal.key->id +
                    "': " + std::to_string(status.limit) + " " + std::string(kind) +
                    " per minute. Please try again in " + auth::format_reset(decision.retry_after) +
                    ".");
      for (const auto& [suffix, limit] :
           {std::pair{"requests", decision.requests}, {"tokens", decision.tokens}}) {
        if (limit.limit == 0) continue;
        const std::string name(suffix);
        ex.failure_headers.emplace_back("x-ratelimit-limit-" + name, std::to_string(limit.limit));
        ex.failure_headers.emplace_back("x-ratelimit-remaining-" + name,
                                        std::to_string(limit.remaining));
        ex.failure_headers.emplace_back("x-ratelimit-reset-" + name,
                                        auth::format_reset(limit.reset));
      }
      const auto seconds = std::chrono::ceil<std::chrono::seconds>(decision.retry_after).count();
      ex.failure_headers.emplace_back("retry-after",
                                      std::to_string(std::max<std::int64_t>(1, seconds)));
      ex.outcome = Outcome::client_error;
      return false;
    }
    ex.reserved_tokens = tokens;
    ex.tokens_reserved = true;
  }

  // The most this request can cost, should it end on its dearest target.
  core::Money estimate;
  for (const router::Candidate& candidate : ex.plan.attempts) {
    estimate = std::max(estimate, candidate.estimated_cost);
  }
  const metering::BudgetAdmission admission = ex.snapshot->budgets->reserve(
      ex.principal.id(), ex.principal.team(), estimate, core::WallClock::now());
  if (!admission.allowed) {
    const config::Budget& budget = config.budgets[*admission.refused_by];
    runtime_.metrics().budget_action(*ex.snapshot->meters, *admission.refused_by, "rejected");
    const auto seconds = std::max<std::int64_t>(1, admission.retry_after.count());
    ex.failure = api::ApiError::insufficient_quota(
        admission.left
            ? "This request's estimated cost $" + estimate.to_decimal() + " exceeds the $" +
                  admission.left->to_decimal() + " left in budget '" + budget.name +
                  "' for this period."
            : "Budget '" + budget.name + "' is exhausted for this period; it resets in " +
                  std::to_string(seconds) + " s.");
    ex.failure_headers.emplace_back("retry-after", std::to_string(seconds));
    ex.outcome = Outcome::client_error;
    return false;
  }
  ex.reserved_cost = estimate;
  ex.cost_reserved = true;
  return true;
}

awaitable<bool> ProxyHandler::run_plan(beast::tcp_stream& client, Exchange& ex) {
  const config::Config& config = ex.snapshot->config;
  const metering::MeterTable& table = *ex.snapshot->meters;
  router::LiveState& live = *ex.snapshot->live;
  const config::RetryPolicy& retries = config.routes[ex.plan.route].retries;
  const std::string classifier_prefix =
      ex.plan.tier ? "classifier:" + config.classifier.tiers[*ex.plan.tier].name + ", " : "";
  ex.reason = classifier_prefix + ex.reason;
  live.retry_budget().count_request(ex.started);

  std::string tried;  // for the client's error message when nothing serves it
  const auto note = [&tried](std::string_view endpoint, std::string_view what) {
    if (!tried.empty()) tried += "; ";
    tried.append(endpoint).append(": ").append(what);
  };
  bool attempted = false;
  // A provisioned endpoint's 429 says "full" before doing any work: spilling from it is the
  // normal overflow path, not load amplification, so the next attempt is not a retry.
  bool spilled_on_429 = false;
  bool last_timed_out = false;
  bool budget_exhausted = false;
  const std::vector<router::Candidate>& candidates = ex.plan.attempts;
  for (std::size_t i = 0; i < candidates.size() && !budget_exhausted; ++i) {
    const router::Candidate& candidate = candidates[i];
    const config::Endpoint& endpoint = config.endpoints[candidate.endpoint];
    router::EndpointState& state = live.endpoint(candidate.endpoint);
    // The router saw a free slot; another thread may have taken it since.
    if (!state.try_admit(candidate.admit_limit)) {
      note(endpoint.name, "at capacity");
      if (!ex.spilled_from) {
        ex.spilled_from = candidate.endpoint;
        ex.spill_reason = "capacity";
      }
      ex.reason = classifier_prefix + "spill:capacity";
      continue;
    }
    const Release slot([&state] { state.release(); });

    std::string_view failure_kind;
    for (unsigned retry = 0;; ++retry) {
      // Every upstream attempt after a request's first spends from the retry budget, so an
      // outage cannot multiply the load on what is left.
      const bool extra = attempted && !spilled_on_429;
      if (extra && !live.retry_budget().try_acquire_retry(core::Clock::now())) {
        runtime_.metrics().retry_budget_exhausted();
        note(endpoint.name, "not tried: retry budget exhausted");
        budget_exhausted = true;
        break;
      }
      if (!state.breaker.try_acquire(core::Clock::now())) {
        note(endpoint.name, "circuit open");
        break;
      }
      if (candidate.cold && retry == 0) runtime_.metrics().cold_start(table, candidate.endpoint);
      ex.candidate = &candidate;
      attempted = true;
      spilled_on_429 = false;
      AttemptResult result = co_await attempt(client, ex);
      if (result.kind == AttemptResult::Kind::done) {
        learn_from(ex, nullptr);
        co_return result.client_alive;
      }
      learn_from(ex, &result);
      last_timed_out = result.timed_out;
      failure_kind = result.reason;
      note(endpoint.name, result.detail);
      spdlog::warn("upstream_failed request_id={} endpoint={} reason={} detail=\"{}\"",
                   ex.id.view(), endpoint.name, result.reason, result.detail);

      if (result.status == 429 && endpoint.spill_on_429) {
        // Provisioned and full: spill rather than retry or count it against the endpoint.
        ex.spilled_from = ex.spilled_from.value_or(candidate.endpoint);
        if (ex.spill_reason.empty() || ex.spilled_from == candidate.endpoint)
          ex.spill_reason = "429";
        ex.reason = classifier_prefix + "spill:429";
        spilled_on_429 = true;
        break;
      }
      // "fallback:503" when the next target serves it; "retry:503" when this one does.
      const std::string why = failure_label(result.status, result.timed_out, result.reason);
      ex.reason = classifier_prefix + "fallback:" + why;
      const config::RetryOn kind = retry_kind(result.status, result.timed_out);
      if (retry >= retries.max || !retries.retries_on(kind)) break;
      core::Duration wait = backoff(retries, retry, worker_.random());
      if (result.retry_after) {
        if (*result.retry_after > retries.max_retry_after) break;  // too long: move on
        wait = *result.retry_after;
      }
      ex.reason = classifier_prefix + "retry:" + why;
      co_await pause(wait);
    }
    if (!failure_kind.empty() && i + 1 < candidates.size()) {
      runtime_.metrics().fallback(endpoint.name, config.endpoints[candidates[i + 1].endpoint].name,
                                  failure_kind);
    }
  }

  const std::string model = ex.alias->name;
  if (!attempted) {
    ex.failure = api::ApiError::service_unavailable(
        "No endpoint for model '" + model + "' can take the request now" +
        (tried.empty() ? std::string(".") : " (" + tried + ")."));
    ex.outcome = Outcome::upstream_error;
  } else {
    ex.failure =
        api::ApiError::bad_gateway("All targets for model '" + model + "' failed: " + tried + ".");
    ex.outcome = last_timed_out ? Outcome::timeout : Outcome::upstream_error;
  }
  ex.meters = nullptr;  // no target answered: counted under endpoint="none"
  co_return true;
}

awaitable<void> ProxyHandler::pause(core::Duration duration) {
  asio::steady_timer timer(worker_.io);
  timer.expires_after(duration);
  error_code ec;
  co_await timer.async_wait(as_result(ec));
}

// Feeds an attempt's outcome back: circuit breaker, warmth, latency estimates.
void ProxyHandler::learn_from(Exchange& ex, const AttemptResult* failure) {
  const metering::MeterTable& table = *ex.snapshot->meters;
  const std::size_t endpoint = ex.candidate->endpoint;
  router::EndpointState& state = ex.snapshot->live->endpoint(endpoint);
  const TimePoint now = core::Clock::now();

  // 429 means busy, not broken; a stream cut mid-way is broken.
  const bool broke = failure
                         ? failure->status != 429
                         : ex.outcome == Outcome::upstream_error || ex.outcome == Outcome::timeout;
  if (broke) {
    if (state.breaker.on_failure(now)) {
      runtime_.metrics().circuit(table, endpoint, true);
      spdlog::warn("circuit_open endpoint={} cooldown_ms={}", ex.endpoint->name,
                   ex.endpoint->circuit_breaker.cooldown.count());
    }
  } else {
    const bool was_open = state.breaker.state(now) != router::CircuitBreaker::State::closed;
    state.breaker.on_success();
    if (was_open) {
      runtime_.metrics().circuit(table, endpoint, false);
      spdlog::info("circuit_closed endpoint={}", ex.endpoint->name);
    }
  }
  const bool answered = failure == nullptr || failure->status != 0;
  if (answered) state.mark_active(now);

  if (failure && failure->timed_out && failure->reason == "first_byte_timeout") {
    state.ttft.observe(seconds_between(ex.attempt_started, now), now);
  }
  // A cold start says nothing about the warm endpoint's speed (the router adds its own
  // cold-start term), so such an attempt teaches no latency.
  if (!failure && ex.outcome == Outcome::success && ex.usage && !ex.candidate->cold) {
    const double output = static_cast<double>(ex.usage->output);
    if (ex.request.stream && ex.first_byte) {
      state.ttft.observe(seconds_between(ex.attempt_started, *ex.first_byte), now);
      if (output > 1)
        state.per_output_token.observe(seconds_between(*ex.first_byte, now) / output, now);
    } else if (output > 0) {
      const double generating = seconds_between(ex.attempt_started, now) - state.ttft.predict(now);
      state.per_output_token.observe(std::max(0.0, generating) / output, now);
    }
  }
  if (!failure && ex.outcome == Outcome::success && ex.usage && ex.routed &&
      ex.request.operation != api::Operation::embeddings) {
    ex.snapshot->live->observe_output_tokens(ex.plan.route, ex.usage->output);
  }
  runtime_.metrics().latency_estimate(table, endpoint, state.ttft.predict(now),
                                      state.per_output_token.predict(now));
}

}  // namespace fulcrum::net
