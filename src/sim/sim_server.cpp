#include "sim_server.hpp"

#include <deque>
#include <iostream>
#include <map>

#include "anthropic_wire.hpp"
#include "bedrock_auth.hpp"
#include "bedrock_request.hpp"
#include "bedrock_wire.hpp"
#include "engine_metrics.hpp"
#include "fulcrum/net/asio.hpp"
#include "fulcrum/net/http_server.hpp"
#include "fulcrum/net/http_util.hpp"
#include "fulcrum/net/spawn.hpp"
#include "responses_api.hpp"
#include "sim_responses.hpp"

namespace fulcrum::sim {

using namespace fulcrum::net;

namespace {

struct EndpointState {
  SimEndpoint spec;
  std::uint64_t requests = 0;
  std::uint64_t cold_starts = 0;
  // Tokens of the generations it served (its own log, for tests that price what it did).
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  unsigned generating = 0;
  unsigned peak_generating = 0;  // the most generating at once, ever (for tests)
  unsigned streams_active = 0;
  std::deque<std::shared_ptr<steady_timer>> waiting;
  // With `hold`, requests wait here before their first byte until a test releases them.
  std::vector<std::shared_ptr<steady_timer>> held;
  std::string last_body;      // the last request body as received, byte for byte (for tests)
  std::string last_model_id;  // bedrock: the last model id, percent-decoded from the path
  // Responses API: what this endpoint stored, by response id (store defaults to true).
  struct Stored {
    nlohmann::json response;
    nlohmann::json input_items;
  };
  std::map<std::string, Stored, std::less<>> stored;
  std::optional<core::Clock::time_point> last_active;
  InjectedLoad injected;  // POST <prefix>/sim/engine_load, reported on /metrics
};

// Holds a generation slot of a capacity-limited endpoint for its lifetime.
class Slot {
 public:
  explicit Slot(EndpointState& e) : e_(e) {}
  ~Slot() {
    if (!e_.waiting.empty()) {
      // Hand the slot straight to the oldest waiter: cancelling its timer wakes it.
      e_.waiting.front()->cancel();
      e_.waiting.pop_front();
    } else {
      --e_.generating;
    }
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  EndpointState& e_;
};

// What the endpoint's engine reports on /metrics: its own requests plus the injected load.
// Requests held at the gate count as waiting with those queued behind max_concurrency: both
// have arrived and wait for a turn to generate, as requests in an engine's queue do.
EngineGauges engine_gauges(const EndpointState& e) {
  EngineGauges gauges;
  gauges.running = e.generating + e.injected.running;
  gauges.waiting = static_cast<double>(e.waiting.size() + e.held.size()) + e.injected.waiting;
  // Each slot of a capacity-limited endpoint stands for an equal share of its KV cache.
  const double own_usage =
      e.spec.max_concurrency > 0
          ? std::min(1.0, static_cast<double>(e.generating) / e.spec.max_concurrency)
          : 0.0;
  gauges.kv_cache_usage = std::max(own_usage, e.injected.kv_cache_usage);
  return gauges;
}

awaitable<void> sleep_for(core::Duration d) {
  if (d.count() <= 0) co_return;
  steady_timer timer(co_await asio::this_coro::executor, d);
  error_code ec;
  co_await timer.async_wait(as_result(ec));
}

// The headers OpenAI sends that clients read, and one a gateway must never pass on: every
// answer carries them, so tests can see which reach the client.
template <class Head>
void provider_headers(Head& head, std::uint64_t serial) {
  head.set("x-request-id", "req_sim_" + std::to_string(serial));
  head.set("openai-processing-ms", "1");
  head.set("x-ratelimit-remaining-requests", "99");
  head.set(http::field::set_cookie, "sim-session=1; Path=/");
}

// What an endpoint adds to every answer it gives, whatever the outcome: Azure's deployment
// utilization when the spec sets one.
template <class Head>
void endpoint_headers(Head& head, const SimEndpoint& spec) {
  if (spec.wire == "azure" && !spec.utilization.empty()) {
    head.set("azure-openai-deployment-utilization", spec.utilization);
  }
}

awaitable<bool> reply_error(const SimEndpoint& spec, tcp_stream& client, const Request& req,
                            const api::ApiError& error, unsigned retry_after = 0,
                            std::uint64_t serial = 0) {
  auto res = error_response(error, req.version(), req.keep_alive());
  provider_headers(res, serial);
  endpoint_headers(res, spec);
  if (retry_after > 0) res.set(http::field::retry_after, std::to_string(retry_after));
  co_return co_await write_response(client, res, std::chrono::minutes(10)) && req.keep_alive();
}

awaitable<bool> reply_error(const SimEndpoint& spec, tcp_stream& client, const Request& req,
                            unsigned status, std::string message, unsigned retry_after,
                            std::uint64_t serial = 0, std::string code = {}) {
  std::string type = status == 429 ? "rate_limit_error" : "api_error";
  if (code == "insufficient_quota") type = code;  // OpenAI's type and code are the same there
  const api::ApiError error{status, std::move(type), std::move(code), std::move(message), ""};
  co_return co_await reply_error(spec, client, req, error, retry_after, serial);
}

// Where a request path leads on the endpoint's wire: the operation, and for Azure's
// deployments URL the deployment (the model it answers as).
struct WireRoute {
  std::optional<api::Operation> op;
  std::string deployment;
  bool missing_api_version = false;
  std::string model_id;  // bedrock: the path's model id, percent-decoded
  bool stream = false;   // bedrock: a streaming operation (the path says so, not the body)
  bool invoke = false;   // bedrock: InvokeModel (Anthropic's Messages body), not Converse
};

// Bedrock's /model/{modelId}/converse[-stream] and /invoke[-with-response-stream]. The model
// id is one segment: an ARN's '/' arrives as %2F, and a raw one makes the path match no
// operation, as at AWS.
WireRoute bedrock_route(std::string_view rest) {
  WireRoute route;
  constexpr std::string_view kModel = "/model/";
  if (!rest.starts_with(kModel)) return route;
  const std::string_view tail = rest.substr(kModel.size());
  const std::size_t slash = tail.find('/');
  if (slash == 0 || slash == std::string_view::npos) return route;
  const std::string_view action = tail.substr(slash);
  route.invoke = action == "/invoke" || action == "/invoke-with-response-stream";
  if (action != "/converse" && action != "/converse-stream" && !route.invoke) return route;
  route.op = api::Operation::chat_completions;
  route.model_id = percent_decoded(tail.substr(0, slash));
  route.stream = action == "/converse-stream" || action == "/invoke-with-response-stream";
  return route;
}

// What every Bedrock answer carries: AWS's request id, and the model id the sim decoded from
// the path, so tests see how the client encoded it.
template <class Head>
void bedrock_headers(Head& head, const SimEndpoint& spec, const Request& req,
                     std::uint64_t serial) {
  const std::string digits = std::to_string(serial);
  head.set("x-amzn-RequestId", "00000000-0000-4000-8000-" +
                                   std::string(12 - std::min<std::size_t>(12, digits.size()), '0') +
                                   digits);
  const std::string_view path = path_of(req.target());
  if (!path.starts_with(spec.prefix)) return;
  std::string model_id = bedrock_route(path.substr(spec.prefix.size())).model_id;
  // Decoded bytes go back into a header: nothing there may end it early.
  for (char& c : model_id) {
    if (c < 0x20 || c == 0x7f) c = '?';
  }
  if (!model_id.empty()) head.set("x-sim-model-id", model_id);
}

awaitable<bool> reply_bedrock_error(const SimEndpoint& spec, tcp_stream& client, const Request& req,
                                    const BedrockError& error, unsigned retry_after,
                                    std::uint64_t serial) {
  auto res =
      json_response(error.status, bedrock_error_body(error), req.version(), req.keep_alive());
  bedrock_headers(res, spec, req, serial);
  res.set("x-amzn-ErrorType", error.type);
  if (retry_after > 0) res.set(http::field::retry_after, std::to_string(retry_after));
  co_return co_await write_response(client, res, std::chrono::minutes(10)) && req.keep_alive();
}

// An injected failure in the endpoint's wire: Anthropic's error shape and rate-limit headers
// (a tier's spend cap: code_429 enforced_spend_limit_reached, and no retry-after), Bedrock's
// exceptions (named by status or error_type), Azure's retry-after-ms beside retry-after, else
// OpenAI's.
awaitable<bool> reply_failure(const SimEndpoint& spec, tcp_stream& client, const Request& req,
                              unsigned status, std::string message, unsigned retry_after,
                              std::uint64_t serial, std::string code = {}) {
  if (spec.wire == "bedrock") {
    BedrockError error = bedrock_error(status, spec.error_type, std::move(message));
    if (error.type.starts_with("ThrottlingException:")) {
      error.message = "Too many requests, please wait before trying again.";
    }
    co_return co_await reply_bedrock_error(spec, client, req, error, retry_after, serial);
  }
  if (spec.wire != "anthropic") {
    if (spec.wire == "azure" && retry_after > 0) {
      std::string type = status == 429 ? "rate_limit_error" : "api_error";
      const api::ApiError error{status, std::move(type), std::move(code), std::move(message), ""};
      auto res = error_response(error, req.version(), req.keep_alive());
      provider_headers(res, serial);
      endpoint_headers(res, spec);
      res.set(http::field::retry_after, std::to_string(retry_after));
      res.set("retry-after-ms", std::to_string(retry_after * 1000));
      co_return co_await write_response(client, res, std::chrono::minutes(10)) && req.keep_alive();
    }
    co_return co_await reply_error(spec, client, req, status, std::move(message), retry_after,
                                   serial, std::move(code));
  }
  const bool spend_cap = code == "enforced_spend_limit_reached";
  auto res = json_response(
      status, anthropic_error_body(status, message, spend_cap ? code : std::string(), serial),
      req.version(), req.keep_alive());
  res.set("request-id", "req_sim_" + std::to_string(serial));
  if (status == 429) {
    res.set("anthropic-ratelimit-requests-remaining", "0");
    if (retry_after > 0 && !spend_cap)
      res.set(http::field::retry_after, std::to_string(retry_after));
  }
  co_return co_await write_response(client, res, std::chrono::minutes(10)) && req.keep_alive();
}

awaitable<bool> reply_json(const SimEndpoint& spec, tcp_stream& client, const Request& req,
                           unsigned status, const nlohmann::json& body, std::uint64_t serial) {
  auto res = json_response(status, body.dump(), req.version(), req.keep_alive());
  provider_headers(res, serial);
  endpoint_headers(res, spec);
  co_return co_await write_response(client, res, std::chrono::minutes(10)) && req.keep_alive();
}

// OpenAI's 404 for a response id it does not have.
api::ApiError no_such_response(std::string_view id, std::string_view param) {
  return {404, "invalid_request_error",
          param.empty() ? std::string() : std::string("previous_response_not_found"),
          (param.empty() ? "Response with id '" : "Previous response with id '") + std::string(id) +
              "' not found.",
          std::string(param)};
}

// The value of `name` in a target's query string, or "".
std::string_view query_value(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.substr(0, pair.find('=')) == name && pair.find('=') != std::string_view::npos) {
      return pair.substr(pair.find('=') + 1);
    }
  }
  return {};
}

WireRoute route_of(const SimEndpoint& spec, std::string_view rest, std::string_view target) {
  WireRoute route;
  std::string_view path = rest;
  if (spec.wire == "anthropic") {
    if (rest == "/v1/messages") route.op = api::Operation::chat_completions;
    return route;
  }
  if (spec.wire == "bedrock") return bedrock_route(rest);
  if (spec.wire == "gemini") {
    if (!path.starts_with("/v1beta/openai/")) return route;
    path.remove_prefix(14);
  } else if (spec.wire == "azure") {
    constexpr std::string_view kDeployments = "/openai/deployments/";
    if (path.starts_with(kDeployments)) {
      path.remove_prefix(kDeployments.size());
      route.deployment = std::string(path.substr(0, path.find('/')));
      path.remove_prefix(route.deployment.size());
      // The dated API: no api-version, no resource (Azure answers 404).
      route.missing_api_version = query_value(target, "api-version").empty();
    } else if (path.starts_with("/openai/v1/")) {
      path.remove_prefix(10);
    } else {
      return route;
    }
  } else {
    if (!path.starts_with("/v1/")) return route;
    path.remove_prefix(3);
  }
  if (path == "/chat/completions") route.op = api::Operation::chat_completions;
  if (path == "/completions") route.op = api::Operation::completions;
  if (path == "/embeddings") route.op = api::Operation::embeddings;
  if (path == "/responses") route.op = api::Operation::responses;
  return route;
}

// Whether the request carries the endpoint's key the way its wire does.
bool authorized(const SimEndpoint& spec, const Request& req) {
  if (spec.api_key.empty()) return true;
  const std::string bearer = "Bearer " + spec.api_key;
  if (spec.wire == "azure")
    return req["api-key"] == spec.api_key || req[http::field::authorization] == bearer;
  if (spec.wire == "anthropic" && req["anthropic-version"] == "2023-06-01") {
    return req["x-api-key"] == spec.api_key;
  }
  return req[http::field::authorization] == bearer;
}

// bedrock: the signature or API key check, over the request exactly as it arrived.
std::optional<BedrockError> bedrock_denial(const SimEndpoint& spec, const Request& req) {
  ArrivedRequest arrived{req.method_string(), req.target(), req.body(), {}};
  for (const auto& field : req) {
    arrived.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  return bedrock_auth_denial(spec, arrived, core::WallClock::now());
}

// The shape of an answer: the endpoint's wire, and on bedrock the operation's.
enum class Dialect { openai, anthropic, converse, invoke };

Dialect dialect_of(const SimEndpoint& spec, const WireRoute& route) {
  if (spec.wire == "anthropic") return Dialect::anthropic;
  if (spec.wire == "bedrock") return route.invoke ? Dialect::invoke : Dialect::converse;
  return Dialect::openai;
}

// The answer, and a stream's pieces, in the dialect. Bedrock's latencies are from the
// request's arrival: to the last token, and (InvokeModel streams) to the response head.
std::string whole_answer(Dialect d, const Generation& g, const MessagePlan& plan,
                         unsigned latency_ms) {
  if (d == Dialect::converse) return converse_answer(g, plan, latency_ms);
  if (d == Dialect::anthropic || d == Dialect::invoke) return anthropic_message(g, plan);
  return whole_completion(g);
}

std::string stream_head(Dialect d, const Generation& g, const MessagePlan& plan) {
  if (d == Dialect::converse) return converse_head_events();
  if (d == Dialect::invoke) return invoke_chunk_events(anthropic_head_events(g, plan));
  if (d == Dialect::anthropic) return anthropic_sse(anthropic_head_events(g, plan));
  return stream_head_event(g);
}

std::string stream_delta(Dialect d, const Generation& g, unsigned i) {
  if (d == Dialect::converse) return converse_delta_event(i);
  if (d == Dialect::invoke) return invoke_chunk_events({anthropic_delta_event(i)});
  if (d == Dialect::anthropic) return anthropic_sse({anthropic_delta_event(i)});
  return stream_content_event(g, i);
}

std::string stream_tail(Dialect d, const Generation& g, const MessagePlan& plan,
                        unsigned latency_ms, unsigned first_byte_ms) {
  if (d == Dialect::converse) return converse_tail_events(g, plan, latency_ms);
  if (d == Dialect::invoke) return invoke_tail_events(g, plan, latency_ms, first_byte_ms);
  if (d == Dialect::anthropic) return anthropic_sse(anthropic_tail_events(g, plan));
  return stream_tail_events(g);
}

// One event whose data is not JSON (on bedrock, a well-framed one).
std::string stream_malformed(Dialect d) {
  if (d == Dialect::converse) return converse_malformed_event();
  if (d == Dialect::invoke) return invoke_malformed_event();
  return "data: {\"choices\": [ {\"delta\": oops\n\n";
}

core::Duration per_token(const SimEndpoint& e) {
  if (e.tokens_per_second <= 0) return core::Duration(0);
  return core::Duration(static_cast<long>(1000.0 / e.tokens_per_second));
}

}  // namespace

struct SimServer::Impl {
  explicit Impl(SimConfig c) : config(std::move(c)) {
    for (const auto& spec : config.endpoints) {
      auto state = std::make_unique<EndpointState>();
      state->spec = spec;
      endpoints.push_back(std::move(state));
    }
  }
  // Queued requests' timers belong to the io_context: release them while it still exists.
  ~Impl() {
    for (auto& e : endpoints) {
      e->waiting.clear();
      e->held.clear();
    }
  }

  EndpointState* find(std::string_view path, std::uint16_t port, std::string_view& rest) {
    EndpointState* best = nullptr;
    for (auto& e : endpoints) {
      if (ports[e.get()] != port || !path.starts_with(e->spec.prefix)) continue;
      if (best == nullptr || e->spec.prefix.size() > best->spec.prefix.size()) best = e.get();
    }
    if (best) rest = path.substr(best->spec.prefix.size());
    return best;
  }

  std::string stats() const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& e : endpoints) {
      out[e->spec.name] = {{"requests", e->requests},
                           {"generating", e->generating},
                           {"peak_generating", e->peak_generating},
                           {"queued", e->waiting.size()},
                           {"held", e->held.size()},
                           {"last_body", e->last_body},
                           {"streams_active", e->streams_active},
                           {"cold_starts", e->cold_starts},
                           {"prompt_tokens", e->prompt_tokens},
                           {"completion_tokens", e->completion_tokens},
                           {"stored", e->stored.size()},
                           {"last_model_id", e->last_model_id}};
    }
    return out.dump();
  }

  awaitable<bool> handle(std::uint16_t port, tcp_stream& client, Request& req);
  awaitable<bool> generate(EndpointState& e, const WireRoute& route, tcp_stream& client,
                           Request& req);
  awaitable<bool> stored_call(EndpointState& e, std::string_view call, tcp_stream& client,
                              Request& req);

  SimConfig config;
  std::vector<std::unique_ptr<EndpointState>> endpoints;
  std::map<const EndpointState*, std::uint16_t> ports;
  // Declared after the endpoints, so destroyed before them: destroying the io_context destroys
  // suspended request coroutines, whose Slots still refer to their endpoint.
  asio::io_context io{1};
  std::vector<std::unique_ptr<tcp_acceptor>> acceptors;
  std::unique_ptr<asio::signal_set> signals;
};

awaitable<bool> SimServer::Impl::handle(std::uint16_t port, tcp_stream& client, Request& req) {
  const auto timeout = core::Duration(std::chrono::minutes(10));
  const bool keep_alive = req.keep_alive();
  std::string_view rest;
  const std::string_view path = path_of(req.target());
  if (path.ends_with("/sim/stats")) {
    auto res = json_response(200, stats(), req.version(), keep_alive);
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }
  EndpointState* e = find(path, port, rest);
  if (e != nullptr && rest == "/sim/release" && req.method() == http::verb::post) {
    // Every request held so far goes on; later ones are held again.
    const std::size_t released = e->held.size();
    for (auto& gate : e->held) gate->cancel();
    e->held.clear();
    auto res = json_response(200, nlohmann::json{{"released", released}}.dump(), req.version(),
                             keep_alive);
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }
  if (e != nullptr && rest == "/sim/engine_load" && req.method() == http::verb::post) {
    // Replaces what was injected before: {} clears it.
    const auto injected = injected_load_of(req.body());
    if (!injected) {
      const auto refused = api::ApiError::invalid_request(injected.error());
      co_return co_await reply_error(e->spec, client, req, refused);
    }
    e->injected = *injected;
    nlohmann::json now = {{"running", e->injected.running},
                          {"waiting", e->injected.waiting},
                          {"kv_cache_usage", e->injected.kv_cache_usage}};
    if (e->injected.fail) now["fail"] = *e->injected.fail;
    auto res = json_response(200, now.dump(), req.version(), keep_alive);
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }
  if (e != nullptr && rest == "/metrics" && req.method() == http::verb::get &&
      !e->spec.engine_metrics.empty()) {
    const bool fails = e->injected.fail.value_or(e->spec.fail_metrics);
    std::string page =
        fails ? std::string("metrics unavailable (injected)\n")
              : engine_exposition(e->spec.engine_metrics, engine_gauges(*e), e->spec.name);
    auto res = json_response(fails ? 503 : 200, std::move(page), req.version(), keep_alive);
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }
  const WireRoute route = e != nullptr ? route_of(e->spec, rest, req.target()) : WireRoute{};
  if (route.missing_api_version) {
    auto res = json_response(404, R"({"error":{"code":"404","message":"Resource not found"}})",
                             req.version(), keep_alive);
    endpoint_headers(res, e->spec);
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }
  const std::optional<api::Operation> op = route.op;
  if (e != nullptr && rest.starts_with("/v1/responses/")) {
    co_return co_await stored_call(*e, rest.substr(14), client, req);
  }
  if (e != nullptr && rest == "/v1/models") {
    auto res = json_response(
        200,
        R"({"object":"list","data":[{"id":"sim","object":"model","created":0,"owned_by":"fulcrum-sim"}]})",
        req.version(), keep_alive);
    endpoint_headers(res, e->spec);
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }
  if (e != nullptr && e->spec.wire == "bedrock" && (!op || req.method() != http::verb::post)) {
    // What AWS answers for a path no operation matches, e.g. a model ARN's unencoded '/'.
    const BedrockError unknown{404, "UnknownOperationException",
                               "Unknown operation: " + std::string(path)};
    co_return co_await reply_bedrock_error(e->spec, client, req, unknown, 0, 0);
  }
  if (e == nullptr || !op || req.method() != http::verb::post) {
    auto res = error_response(api::ApiError::not_found(path), req.version(), keep_alive);
    if (e != nullptr) endpoint_headers(res, e->spec);
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }
  co_return co_await generate(*e, route, client, req);
}

awaitable<bool> SimServer::Impl::generate(EndpointState& e, const WireRoute& route,
                                          tcp_stream& client, Request& req) {
  const auto timeout = core::Duration(std::chrono::minutes(10));
  const auto started = core::Clock::now();
  const bool keep_alive = req.keep_alive();
  const SimEndpoint& spec = e.spec;
  const api::Operation op = *route.op;
  const std::uint64_t serial = e.requests++;
  e.last_body = req.body();
  const bool bedrock = spec.wire == "bedrock";
  if (bedrock) e.last_model_id = route.model_id;
  const Dialect dialect = dialect_of(spec, route);
  // Anthropic's Messages body: at /v1/messages, or through Bedrock's InvokeModel.
  const bool messages_body = dialect == Dialect::anthropic || dialect == Dialect::invoke;

  const bool anthropic = spec.wire == "anthropic";
  const std::string anthropic_version(req["anthropic-version"]);
  if (anthropic && anthropic_version != "2023-06-01" && anthropic_version != "2026-10-21") {
    co_return co_await reply_failure(spec, client, req, 400,
                                     "anthropic-version: header is required and must be "
                                     "2023-06-01 or 2026-10-21",
                                     0, serial);
  }
  if (bedrock) {
    if (const auto denial = bedrock_denial(spec, req)) {
      co_return co_await reply_bedrock_error(spec, client, req, *denial, 0, serial);
    }
  } else if (!authorized(spec, req)) {
    co_return co_await reply_failure(
        spec, client, req, 401,
        "Incorrect API key provided: " + std::string(req[http::field::authorization]) +
            std::string(req["x-api-key"]) + std::string(req["api-key"]),
        0, serial);
  }
  if (spec.reset_before_headers || (spec.reset_every > 0 && (serial + 1) % spec.reset_every == 0)) {
    // SO_LINGER 0: close() sends RST, the abrupt end a crashed upstream gives.
    client.socket().set_option(asio::socket_base::linger(true, 0));
    client.socket().close();
    co_return false;
  }
  if (spec.hold) {
    auto gate = std::make_shared<steady_timer>(io, steady_timer::time_point::max());
    e.held.push_back(gate);
    error_code ec;
    co_await gate->async_wait(as_result(ec));  // cancelled by POST /sim/release
  }
  const bool fails =
      serial < spec.fail_first || spec.fail_status != 0 ||
      (spec.rate_429 > 0 && static_cast<std::uint64_t>((serial + 1) * spec.rate_429) >
                                static_cast<std::uint64_t>(serial * spec.rate_429));
  if (fails && spec.fail_delay.count() > 0) co_await sleep_for(spec.fail_delay);
  // Every injected 429 says when to come back, if the spec says.
  const auto retry_after = [&](unsigned status) { return status == 429 ? spec.retry_after : 0u; };
  if (serial < spec.fail_first) {
    co_return co_await reply_failure(spec, client, req, spec.fail_first_status, "injected failure",
                                     retry_after(spec.fail_first_status), serial);
  }
  if (spec.fail_status != 0) {
    co_return co_await reply_failure(spec, client, req, spec.fail_status, "injected failure",
                                     retry_after(spec.fail_status), serial);
  }
  if (spec.fail_every > 0 && (serial + 1) % spec.fail_every == 0) {
    co_return co_await reply_failure(spec, client, req, spec.fail_every_status, "injected failure",
                                     retry_after(spec.fail_every_status), serial);
  }
  // Evenly spread: request n fails when it crosses the next multiple of 1/rate.
  if (spec.rate_429 > 0 && static_cast<std::uint64_t>((serial + 1) * spec.rate_429) >
                               static_cast<std::uint64_t>(serial * spec.rate_429)) {
    const bool quota = spec.code_429 == "insufficient_quota";
    std::string message =
        quota ? "You exceeded your current quota (injected)." : "Rate limit reached (injected).";
    co_return co_await reply_failure(spec, client, req, 429, std::move(message), spec.retry_after,
                                     serial, spec.code_429);
  }

  const auto body = nlohmann::json::parse(req.body(), nullptr, false);
  if (anthropic) {
    if (const auto why = anthropic_refusal(body, anthropic_version)) {
      co_return co_await reply_failure(spec, client, req, 400, *why, 0, serial);
    }
  }
  if (bedrock) {
    if (const auto why = route.invoke ? invoke_refusal(body) : converse_refusal(body)) {
      const BedrockError invalid = bedrock_error(400, "ValidationException", *why);
      co_return co_await reply_bedrock_error(spec, client, req, invalid, 0, serial);
    }
  } else if (!body.is_object() || !body.contains("model") || !body["model"].is_string()) {
    auto res =
        error_response(api::ApiError::invalid_request("invalid body"), req.version(), keep_alive);
    endpoint_headers(res, spec);
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }
  const bool flex = !bedrock && body.is_object() && string_at(body, "service_tier", "") == "flex";
  if (flex && spec.flex_429) {
    std::string message = "Flex tier capacity is unavailable right now (injected).";
    std::string code = "resource_unavailable";
    co_return co_await reply_failure(spec, client, req, 429, std::move(message), spec.retry_after,
                                     serial, std::move(code));
  }
  Generation g;
  g.operation = op;
  if (!bedrock && body.is_object()) g.service_tier = string_at(body, "service_tier", "default");
  // Bedrock has the model in the path only; Azure answers as the deployment.
  g.model = bedrock ? route.model_id : body["model"].get<std::string>();
  g.serial = serial;
  g.endpoint = spec.name;
  if (!route.deployment.empty()) g.model = route.deployment;
  g.prompt_tokens = messages_body ? count_anthropic_prompt_tokens(body)
                    : bedrock     ? count_converse_prompt_tokens(body)
                                  : count_prompt_tokens(op, body);
  g.cached_tokens = std::min(spec.cached_tokens, g.prompt_tokens);
  g.completion_tokens = spec.completion_tokens;
  // OpenAI's wires generate exactly max_tokens when set; Anthropic's and Bedrock's stop there
  // if they must.
  const bool planned = anthropic || bedrock;
  for (const char* key : {"max_tokens", "max_completion_tokens", "max_output_tokens"}) {
    if (!planned && body.contains(key) && body[key].is_number_unsigned())
      g.completion_tokens = body[key].get<unsigned>();
  }
  const MessagePlan plan =
      messages_body ? plan_anthropic(body, g, spec.cached_tokens, spec.cache_write_tokens)
      : bedrock     ? plan_converse(body, g, spec.cached_tokens, spec.cache_write_tokens)
                    : MessagePlan{};
  const unsigned words = planned ? plan.words : g.completion_tokens;
  if (op == api::Operation::responses) {
    for (const char* key :
         {"instructions", "previous_response_id", "store", "max_output_tokens", "metadata"}) {
      if (body.contains(key)) g.echo[key] = body[key];
    }
    if (body.contains("previous_response_id") && body["previous_response_id"].is_string()) {
      const auto& previous = body["previous_response_id"].get_ref<const std::string&>();
      const auto stored = e.stored.find(previous);
      if (stored == e.stored.end()) {
        // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
        const api::ApiError unknown = no_such_response(previous, "previous_response_id");
        co_return co_await reply_error(spec, client, req, unknown);
      }
      // The conversation so far is input again, as OpenAI bills it.
      g.prompt_tokens += stored->second.response["usage"]["total_tokens"].get<unsigned>();
    }
  }
  e.prompt_tokens += g.prompt_tokens;
  e.completion_tokens += words;
  const bool stream = bedrock ? route.stream : body.value("stream", false);
  g.include_usage = stream && body.contains("stream_options") &&
                    body["stream_options"].is_object() &&
                    body["stream_options"].value("include_usage", false);

  // Scale-to-zero: the first request after a long idle (or ever) waits for the cold start.
  const auto now = core::Clock::now();
  const bool cold = spec.cold_start.count() > 0 &&
                    (!e.last_active || now - *e.last_active > spec.cold_after_idle);
  e.last_active = now;
  if (cold) {
    ++e.cold_starts;
    co_await sleep_for(spec.cold_start);
  }

  if (spec.max_concurrency > 0 && e.generating >= spec.max_concurrency) {
    auto turn = std::make_shared<steady_timer>(io, steady_timer::time_point::max());
    e.waiting.push_back(turn);
    error_code ec;
    co_await turn->async_wait(as_result(ec));  // cancelled by Slot when our turn comes
  } else {
    ++e.generating;
  }
  e.peak_generating = std::max(e.peak_generating, e.generating);
  Slot slot(e);

  if (op == api::Operation::embeddings) {
    co_await sleep_for(spec.ttft);
    std::size_t inputs = 1;
    if (body.contains("input") && body["input"].is_array()) inputs = body["input"].size();
    auto res = json_response(200,
                             embeddings_response(g, inputs, spec.embedding_dimensions,
                                                 body.value("encoding_format", "") == "base64"),
                             req.version(), keep_alive);
    endpoint_headers(res, spec);
    e.last_active = core::Clock::now();
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }

  co_await sleep_for(flex ? spec.ttft + spec.flex_ttft : spec.ttft);
  const core::Duration gap = per_token(spec);
  // Bedrock's latencies (metrics.latencyMs, invocationMetrics): from the request's arrival.
  const auto latency_ms = [&] {
    const auto elapsed = core::Clock::now() - started;
    return static_cast<unsigned>(
        std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
  };
  const auto store = [&] {
    if (op == api::Operation::responses && g.echo.value("store", true)) {
      e.stored[response_id(g)] = {completed_response(g), input_items(body, g)};
    }
  };
  if (!stream) {
    co_await sleep_for(gap * words);
    store();
    auto res =
        json_response(200, whole_answer(dialect, g, plan, latency_ms()), req.version(), keep_alive);
    provider_headers(res, serial);
    endpoint_headers(res, spec);
    if (bedrock) bedrock_headers(res, spec, req, serial);
    e.last_active = core::Clock::now();
    co_return co_await write_response(client, res, timeout) && keep_alive;
  }

  ++e.streams_active;
  struct StreamCount {
    unsigned& n;
    ~StreamCount() { --n; }
  } stream_count{e.streams_active};

  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::content_type,
           bedrock ? "application/vnd.amazon.eventstream" : "text/event-stream");
  provider_headers(head, serial);
  endpoint_headers(head, spec);
  if (bedrock) bedrock_headers(head, spec, req, serial);
  head.keep_alive(keep_alive);
  head.chunked(true);
  http::response_serializer<http::empty_body> head_writer{head};
  error_code ec;
  client.expires_after(timeout);
  co_await http::async_write_header(client, head_writer, as_result(ec));
  if (ec) co_return false;
  const unsigned first_byte_ms = latency_ms();

  std::string pending = stream_head(dialect, g, plan);
  for (unsigned i = 0; i < words; ++i) {
    if (static_cast<int>(i) == spec.cut_after_chunks) {
      if (!pending.empty())
        co_await asio::async_write(client, http::make_chunk(asio::buffer(pending)), as_result(ec));
      client.socket().close(ec);
      co_return false;
    }
    if (static_cast<int>(i) == spec.bad_chunk_after_chunks) {
      if (!pending.empty())
        co_await asio::async_write(client, http::make_chunk(asio::buffer(pending)), as_result(ec));
      // Not a hex size: the chunked framing breaks mid-stream.
      co_await asio::async_write(client, asio::buffer("zz\r\ndata: garbage\r\n"), as_result(ec));
      co_await sleep_for(std::chrono::milliseconds(200));
      client.socket().close(ec);
      co_return false;
    }
    if (static_cast<int>(i) == spec.failed_after_chunks && op == api::Operation::responses) {
      pending += responses_failed_event(g, i);
      co_await asio::async_write(client, http::make_chunk(asio::buffer(pending)), as_result(ec));
      if (!ec) co_await asio::async_write(client, http::make_chunk_last(), as_result(ec));
      co_return !ec && keep_alive;
    }
    if (static_cast<int>(i) == spec.error_after_chunks && planned) {
      // After the 200: Anthropic says so with an error event, Bedrock with an exception
      // frame; then the stream ends.
      pending += bedrock ? converse_exception_event(spec.stream_exception,
                                                    "The model stream failed (injected).")
                         : anthropic_error_event("overloaded_error", "Overloaded");
      co_await asio::async_write(client, http::make_chunk(asio::buffer(pending)), as_result(ec));
      if (!ec) co_await asio::async_write(client, http::make_chunk_last(), as_result(ec));
      co_return !ec && keep_alive;
    }
    if (static_cast<int>(i) == spec.malformed_after_chunks) pending += stream_malformed(dialect);
    if (static_cast<int>(i) == spec.bad_crc_after_chunks && bedrock) {
      // Then word i again, as if nothing happened.
      pending += with_bad_crc(stream_delta(dialect, g, i));
    }
    const bool stalls = spec.stall_every > 0 && (serial + 1) % spec.stall_every == 0 && i == 2;
    if (static_cast<int>(i) == spec.stall_after_chunks || stalls) {
      if (!pending.empty())
        co_await asio::async_write(client, http::make_chunk(asio::buffer(pending)), as_result(ec));
      // Silent until the client gives up and closes.
      std::array<char, 64> sink;
      client.expires_never();
      co_await client.async_read_some(asio::buffer(sink), as_result(ec));
      co_return false;
    }
    pending += stream_delta(dialect, g, i);
    if (gap.count() > 0) {
      co_await asio::async_write(client, http::make_chunk(asio::buffer(pending)), as_result(ec));
      if (ec) co_return false;
      pending.clear();
      co_await sleep_for(gap);
    }
  }
  store();
  pending += stream_tail(dialect, g, plan, latency_ms(), first_byte_ms);
  co_await asio::async_write(client, http::make_chunk(asio::buffer(pending)), as_result(ec));
  if (!ec) co_await asio::async_write(client, http::make_chunk_last(), as_result(ec));
  e.last_active = core::Clock::now();
  co_return !ec && keep_alive;
}

// `call` is what follows /v1/responses/: "{id}", "{id}/cancel" or "{id}/input_items".
awaitable<bool> SimServer::Impl::stored_call(EndpointState& e, std::string_view call,
                                             tcp_stream& client, Request& req) {
  const std::uint64_t serial = e.requests++;
  if (!e.spec.api_key.empty() && req[http::field::authorization] != "Bearer " + e.spec.api_key) {
    co_return co_await reply_error(e.spec, client, req, 401, "Incorrect API key provided.", 0,
                                   serial);
  }
  const std::string_view id = call.substr(0, call.find('/'));
  const std::string_view action =
      id.size() < call.size() ? call.substr(id.size() + 1) : std::string_view{};
  const auto stored = e.stored.find(id);
  if (stored == e.stored.end()) {
    const api::ApiError unknown = no_such_response(id, "");
    co_return co_await reply_error(e.spec, client, req, unknown);
  }
  const http::verb method = req.method();
  if (action.empty() && method == http::verb::get) {
    co_return co_await reply_json(e.spec, client, req, 200, stored->second.response, serial);
  }
  if (action.empty() && method == http::verb::delete_) {
    const nlohmann::json deleted = {{"id", id}, {"object", "response.deleted"}, {"deleted", true}};
    e.stored.erase(stored);
    co_return co_await reply_json(e.spec, client, req, 200, deleted, serial);
  }
  if (action == "cancel" && method == http::verb::post) {
    const auto not_cancellable = api::ApiError::invalid_request(
        "Only responses created with background=true can be cancelled; this one has completed.");
    co_return co_await reply_error(e.spec, client, req, not_cancellable);
  }
  if (action == "input_items" && method == http::verb::get) {
    // Newest first unless order=asc, at most `limit` (default 20), as OpenAI pages them.
    nlohmann::json items = stored->second.input_items;
    if (query_value(req.target(), "order") != "asc") std::reverse(items.begin(), items.end());
    std::size_t limit = 20;
    if (const auto text = query_value(req.target(), "limit"); !text.empty()) {
      limit = std::strtoul(std::string(text).c_str(), nullptr, 10);
    }
    const bool more = items.size() > limit;
    if (more) items.erase(items.begin() + static_cast<std::ptrdiff_t>(limit), items.end());
    nlohmann::json page = {{"object", "list"},
                           {"data", items},
                           {"first_id", items.empty() ? nlohmann::json() : items.front()["id"]},
                           {"last_id", items.empty() ? nlohmann::json() : items.back()["id"]},
                           {"has_more", more}};
    co_return co_await reply_json(e.spec, client, req, 200, page, serial);
  }
  const auto unknown_call = api::ApiError::not_found(req.target());
  co_return co_await reply_error(e.spec, client, req, unknown_call);
}

SimServer::SimServer(SimConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
SimServer::~SimServer() = default;

void SimServer::start() {
  Impl& s = *impl_;
  config::Limits limits;
  limits.max_body_bytes = 64u << 20;
  limits.header_timeout = std::chrono::seconds(30);
  limits.idle_timeout = std::chrono::minutes(10);
  // Endpoints naming the same non-zero port share one acceptor and differ by prefix.
  std::map<std::pair<std::string, std::uint16_t>, std::uint16_t> bound;
  for (auto& e : s.endpoints) {
    const auto key = std::make_pair(e->spec.listen.host, e->spec.listen.port);
    if (e->spec.listen.port != 0 && bound.count(key)) {
      s.ports[e.get()] = bound[key];
      std::cout << "listening " << e->spec.name << " " << e->spec.listen.host << ":" << bound[key]
                << std::endl;
      continue;
    }
    auto acceptor = std::make_unique<tcp_acceptor>(
        make_acceptor(s.io, resolve_listen(e->spec.listen.host, e->spec.listen.port), false));
    const std::uint16_t port = acceptor->local_endpoint().port();
    s.ports[e.get()] = port;
    if (e->spec.listen.port != 0) bound[key] = port;
    std::cout << "listening " << e->spec.name << " " << e->spec.listen.host << ":" << port
              << std::endl;
    Impl* impl = &s;
    config::Limits own = limits;
    if (e->spec.idle_close.count() > 0) own.idle_timeout = e->spec.idle_close;
    asio::co_spawn(s.io,
                   accept_loop(
                       *acceptor, [own] { return own; },
                       // The simulator writes its own framing, broken on purpose at times.
                       [impl, port](ClientReply& reply, Request& req) {
                         return impl->handle(port, reply.raw(), req);
                       }),
                   log_if_thrown("sim_accept_loop"));
    s.acceptors.push_back(std::move(acceptor));
  }
  s.signals = std::make_unique<asio::signal_set>(s.io, SIGINT, SIGTERM);
  s.signals->async_wait([this](const error_code& ec, int) {
    if (!ec) stop();
  });
}

void SimServer::run() {
  const auto guard = asio::make_work_guard(impl_->io);
  impl_->io.run();
}

void SimServer::stop() { impl_->io.stop(); }

std::uint16_t SimServer::port(const std::string& name) const {
  for (const auto& e : impl_->endpoints) {
    if (e->spec.name == name) return impl_->ports.at(e.get());
  }
  return 0;
}

}  // namespace fulcrum::sim
