#include "stored_response.hpp"

#include "fulcrum/net/http_util.hpp"
#include "proxy_request.hpp"
#include "upstream_headers.hpp"
#include "upstream_io.hpp"
#include "wire.hpp"

namespace fulcrum::net {
namespace {

// A stored response can be as large as any whole answer relayed.
constexpr std::size_t kMaxStoredResponseBytes = 256u << 20;

struct Call {
  std::string_view id;      // as written in the path (still percent-encoded)
  std::string_view action;  // "", "cancel" or "input_items"
  std::string_view operation;
  std::string_view allow;  // the methods the path accepts
  bool allowed = false;
};

std::optional<Call> call_at(std::string_view path, http::verb method) {
  Call call;
  std::string_view rest = path.substr(kResponsesPrefix.size());
  const auto slash = rest.find('/');
  call.id = rest.substr(0, slash);
  if (slash != std::string_view::npos) call.action = rest.substr(slash + 1);
  if (call.id.empty()) return std::nullopt;
  if (call.action.empty()) {
    call.allow = "GET, DELETE";
    call.allowed = method == http::verb::get || method == http::verb::delete_;
    call.operation = method == http::verb::delete_ ? "responses.delete" : "responses.get";
  } else if (call.action == "cancel") {
    call.allow = "POST";
    call.allowed = method == http::verb::post;
    call.operation = "responses.cancel";
  } else if (call.action == "input_items") {
    call.allow = "GET";
    call.allowed = method == http::verb::get;
    call.operation = "responses.input_items";
  } else {
    return std::nullopt;
  }
  return call;
}

class StoredResponseCall {
 public:
  StoredResponseCall(Runtime& runtime, Worker& worker, ClientReply& reply, Request& request,
                     const Call& call)
      : runtime_(runtime),
        worker_(worker),
        reply_(reply),
        request_(request),
        call_(call),
        snapshot_(runtime.snapshot()),
        id_(worker.ids.next()),
        started_(core::Clock::now()) {
    reply_.set_request_id(id_.view());
  }

  awaitable<void> run() {
    if (const std::optional<api::ApiError> refused = locate()) {
      co_await answer_with(*refused);
    } else {
      co_await relay();
    }
    log();
  }

 private:
  // Who asks, and which endpoint holds the response for them.
  std::optional<api::ApiError> locate() {
    const config::Config& config = snapshot_->config;
    auto principal = auth::authenticate(request_[http::field::authorization], config);
    if (!principal) return authentication_error(principal.error());
    response_id_ = percent_decoded(call_.id);
    const auto pin = runtime_.response_pins.find(response_id_, principal->id());
    if (!pin) return api::ApiError::response_not_found(response_id_, "");
    endpoint_ = config.find_endpoint(pin->endpoint);
    if (!endpoint_) {
      api::ApiError gone = api::ApiError::response_not_found(response_id_, "");
      gone.message = "Response with id '" + response_id_.substr(0, 256) +
                     "' is stored by endpoint '" + pin->endpoint +
                     "', which is no longer configured.";
      return gone;
    }
    return std::nullopt;
  }

  awaitable<void> relay() {
    const config::Endpoint& endpoint = snapshot_->config.endpoints[*endpoint_];
    // The id goes on as the client wrote it, and so does the query (input_items' paging).
    const std::string_view target = request_.target();
    const provider::Provider& wire = provider::provider_of(endpoint.provider.kind);
    const std::string path =
        wire.path(endpoint, "/responses/" + std::string(target.substr(kResponsesPrefix.size())));
    const std::string head =
        upstream_head(request_.method_string(), endpoint.base_url, path, "application/json",
                      runtime_.user_agent(), wire.auth(endpoint), request_.body().size());
    const auto pool = worker_.pool(*snapshot_, *endpoint_);
    const core::Duration timeout = endpoint.timeouts.connect + endpoint.timeouts.first_byte;
    Fetched fetched =
        co_await fetch(*pool, head, request_.body(), timeout, kMaxStoredResponseBytes);
    if (fetched.ec) {
      const bool timed_out = fetched.ec == beast::error::timeout;
      outcome_ = timed_out ? metering::Outcome::timeout : metering::Outcome::upstream_error;
      std::string message =
          "Endpoint '" + endpoint.name + "' did not answer (" + fetched.ec.message() + ").";
      const api::ApiError failed = timed_out ? api::ApiError::gateway_timeout(std::move(message))
                                             : api::ApiError::bad_gateway(std::move(message));
      co_await answer_with(failed);
      co_return;
    }
    auto& response = fetched.response;
    status_ = response.result_int();
    outcome_ = status_ / 100 == 2   ? metering::Outcome::success
               : status_ / 100 == 4 ? metering::Outcome::client_error
                                    : metering::Outcome::upstream_error;
    if (status_ / 100 == 2 && request_.method() == http::verb::delete_ && call_.action.empty()) {
      runtime_.response_pins.forget(response_id_);
    }
    const std::string body = scrub(std::move(response.body()), snapshot_->secrets);
    const std::string reply_head =
        response_head(status_, reply_.version(), reply_.keep_alive(),
                      {{"Content-Type", content_type_or_json(response[http::field::content_type])},
                       {"x-fulcrum-request-id", id_.view()},
                       {"x-fulcrum-endpoint", endpoint.name}},
                      Framing::content_length(body.size()), PassedHeaders(response).fields());
    co_await reply_.send(reply_head, body);
  }

  awaitable<void> answer_with(const api::ApiError& error) {
    status_ = error.status;
    if (outcome_ == metering::Outcome::success) outcome_ = metering::Outcome::client_error;
    auto res = error_response(error, reply_.version(), reply_.keep_alive());
    res.set("x-fulcrum-request-id", id_.view());
    co_await reply_.send(res);
  }

  void log() {
    AccessRecord record;
    record.request_id = id_.view();
    record.operation = call_.operation;
    if (endpoint_) record.endpoint = snapshot_->config.endpoints[*endpoint_].name;
    record.status = status_;
    record.outcome = outcome_;
    record.duration_ms = core::seconds_between(started_, core::Clock::now()) * 1000.0;
    worker_.access_log.append(record);
  }

  Runtime& runtime_;
  Worker& worker_;
  ClientReply& reply_;
  Request& request_;
  const Call& call_;
  std::shared_ptr<const Snapshot> snapshot_;
  RequestId id_;
  core::Clock::time_point started_;
  std::string response_id_;
  std::optional<std::size_t> endpoint_;
  unsigned status_ = 0;
  metering::Outcome outcome_ = metering::Outcome::success;
};

}  // namespace

awaitable<bool> serve_stored_response(Runtime& runtime, Worker& worker, ClientReply& reply,
                                      Request& request, std::string_view path) {
  const bool keep_alive = request.keep_alive();
  const std::optional<Call> call = call_at(path, request.method());
  if (!call || !call->allowed) {
    const api::ApiError error =
        call ? api::ApiError::method_not_allowed(request.method_string(), path)
             : api::ApiError::unknown_endpoint(request.method_string(), path);
    auto res = error_response(error, request.version(), keep_alive);
    if (call) res.set(http::field::allow, call->allow);
    co_return co_await reply.send(res) && keep_alive;
  }
  StoredResponseCall stored(runtime, worker, reply, request, *call);
  co_await stored.run();
  co_return reply.reusable();
}

}  // namespace fulcrum::net
