#include "attempt.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <limits>

#include "fulcrum/api/responses.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/metering/provisioned.hpp"
#include "fulcrum/net/http_util.hpp"
#include "upstream_headers.hpp"
#include "upstream_io.hpp"
#include "wire.hpp"

namespace fulcrum::net {
namespace {

using Kind = router::AttemptFailure::Kind;

// A non-streamed response is held whole to put its cost in a header; beyond this it is
// refused rather than exhausting memory. Large embedding batches fit comfortably.
constexpr std::size_t kMaxWholeResponseBytes = 256u << 20;
// An upstream's own 4xx explanation is short; longer bodies are cut.
constexpr std::size_t kMaxErrorBodyBytes = 1u << 20;

// An error body should come at once with its head; a slow one is not waited for.
constexpr core::Duration kErrorBodyTimeout = std::chrono::seconds(2);

// "85.2%" (or "85.2") as 0.852; nullopt for anything else.
std::optional<double> percentage(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '%')) text.remove_suffix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !(value >= 0 && value <= 1000)) {
    return std::nullopt;
  }
  return value / 100;
}

}  // namespace

Attempt::Attempt(Runtime& runtime, Worker& worker, const Snapshot& snapshot,
                 api::ParsedRequest& request, const router::Candidate& candidate, std::size_t route,
                 DecisionLabels labels, ClientReply& reply, AnswerListener& listener)
    : runtime_(runtime),
      worker_(worker),
      snapshot_(snapshot),
      request_(request),
      candidate_(candidate),
      target_(snapshot.config.models[candidate.alias].targets[candidate.target]),
      endpoint_(snapshot.config.endpoints[target_.endpoint]),
      provider_(provider::provider_of(endpoint_.provider.kind)),
      route_(route),
      labels_(labels),
      reply_(reply),
      listener_(listener),
      timeouts_(endpoint_.timeouts.with(snapshot.config.routes[route].timeouts)),
      started_(core::Clock::now()),
      deadline_(started_ + timeouts_.total) {}

awaitable<AttemptResult> Attempt::run() {
  const metering::InFlight busy(snapshot_.meters->in_flight[target_.endpoint]);
  const metering::Occupancy occupancy(snapshot_.economics->meter(target_.endpoint));
  // Built fresh: nothing of the client's framing or hop-by-hop headers reaches the upstream.
  auto call = provider_.call(request_, endpoint_, target_.upstream_model, labels_.service_tier);
  if (!call) co_return co_await refuse_untranslatable(call.error());
  upstream_body_ = std::move(call->body);
  warning_ = std::move(call->warning);
  const std::string_view accept = !call->accept.empty() ? std::string_view(call->accept)
                                  : request_.stream     ? "text/event-stream"
                                                        : "application/json";
  upstream_head_ = upstream_head("POST", endpoint_.base_url, call->path, accept,
                                 runtime_.user_agent(), call->headers, upstream_body_.size());

  const std::shared_ptr<UpstreamPool> pool = worker_.pool(snapshot_, target_.endpoint);
  std::unique_ptr<UpstreamConnection> connection = pool->take_idle();
  for (;;) {
    const bool reused = connection != nullptr;
    if (!reused) {
      error_code ec;
      connection = co_await pool->connect(
          std::min(timeouts_.connect, bounded(timeouts_.total, deadline_)), ec);
      if (ec) {
        const bool timed_out = ec == beast::error::timeout || ec == asio::error::operation_aborted;
        co_return AttemptResult::failed(timed_out ? Kind::timeout : Kind::connect, "connect",
                                        "cannot connect (" + ec.message() + ")");
      }
    }
    bool resend = false;
    AttemptResult result = co_await exchange(*connection, reused, resend);
    // Not a byte reached the upstream: the same attempt goes out on a fresh connection.
    if (resend) {
      connection.reset();
      continue;
    }
    if (late_answer_possible_) {
      listener_.on_abandoned(std::move(connection), started_, deadline_);
    } else if (reusable_ && connection->tcp().socket().is_open()) {
      pool->give_back(std::move(connection));
    }
    co_return result;
  }
}

awaitable<AttemptResult> Attempt::exchange(UpstreamConnection& connection, bool reused,
                                           bool& resend) {
  error_code ec;
  const TimePoint first_byte_deadline =
      core::Clock::now() + bounded(timeouts_.first_byte, deadline_);
  expire_in(connection.tcp(), left_until(first_byte_deadline));
  const std::array<asio::const_buffer, 2> bytes{asio::buffer(upstream_head_),
                                                asio::buffer(upstream_body_)};
  const std::size_t written = co_await asio::async_write(connection, bytes, as_result(ec));
  if (ec) {
    // A pooled connection the server closed between our check and the write: nothing was
    // sent, so nothing can be billed twice. Once bytes went out, it is an attempt like any
    // other: counted, logged, budgeted.
    resend = reused && written == 0 && is_stale_close(ec);
    co_return AttemptResult::failed(ec == beast::error::timeout ? Kind::timeout : Kind::reset,
                                    "reset", "write failed (" + ec.message() + ")");
  }

  Parser parser;
  // Bounded by the idle and total deadlines instead. Not boost::none: Beast 1.74 compares
  // Content-Length > none as true and rejects every response that has one.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (auto failed = co_await read_head(connection, parser, first_byte_deadline)) {
    co_return std::move(*failed);
  }
  note_reported_load(parser.get());

  const unsigned status = parser.get().result_int();
  if (provider_.falls_over(status)) co_return co_await refused(connection, parser);
  if (status >= 300 && status < 400) {
    // Redirects are never followed: a redirect could carry the provider key elsewhere.
    connection.tcp().close();
    co_return AttemptResult::failed(Kind::redirect, "redirect",
                                    "HTTP " + std::to_string(status) + " (redirect)");
  }
  if (status >= 400 || status < 200) co_return co_await pass_client_error(connection, parser);
  if (is_event_stream(parser.get())) co_return co_await relay_stream(connection, parser);
  co_return co_await relay_whole(connection, parser);
}

// The upstream's own account of its load (Azure PTU deployments say it on every answer, 429s
// included), for the router: it counts every client of the deployment, not only this gateway.
void Attempt::note_reported_load(const http::response_header<>& head) {
  const std::string_view name = provider_.load_header();
  if (name.empty()) return;
  const auto fraction = percentage(head[name]);
  if (!fraction) return;
  snapshot_.live->endpoint(target_.endpoint).report_utilization(*fraction, core::Clock::now());
  runtime_.metrics().reported_utilization(*snapshot_.meters, target_.endpoint, *fraction);
}

// Waits for the response head until first_byte. At that deadline the attempt gives up, but
// the socket stays open (a cancel, not the stream's timeout, which would close it): a late
// answer is still read and metered (late_answer.hpp).
awaitable<std::optional<AttemptResult>> Attempt::read_head(UpstreamConnection& connection,
                                                           Parser& parser,
                                                           TimePoint first_byte_deadline) {
  expire_in(connection.tcp(), left_until(deadline_));
  // Shared with the timer's handler, which may run after this frame is gone (expired just as
  // the head arrived): it touches the connection only while the head is awaited.
  struct HeadWait {
    bool arrived = false;
    bool gave_up = false;
  };
  const auto wait = std::make_shared<HeadWait>();
  steady_timer first_byte(worker_.io, left_until(first_byte_deadline));
  first_byte.async_wait([wait, &socket = connection.tcp().socket()](const error_code& waited) {
    if (waited || wait->arrived) return;
    wait->gave_up = true;
    error_code ignored;
    socket.cancel(ignored);
  });
  error_code ec;
  co_await http::async_read_header(connection, connection.buffer, parser, as_result(ec));
  wait->arrived = true;
  first_byte.cancel();
  if (!ec) co_return std::nullopt;
  if (wait->gave_up && ec == asio::error::operation_aborted) {
    late_answer_possible_ = true;
  } else if (ec != beast::error::timeout) {
    connection.tcp().close();
    co_return AttemptResult::failed(Kind::reset, "reset",
                                    "connection failed before a response (" + ec.message() + ")");
  }
  co_return AttemptResult::failed(Kind::timeout, "first_byte_timeout",
                                  "no response within the first_byte timeout");
}

awaitable<std::string> Attempt::read_short_body(UpstreamConnection& connection, Parser& parser) {
  std::string body;
  const error_code ec = co_await read_body(connection, parser, body, kMaxErrorBodyBytes,
                                           std::min(timeouts_.idle, kErrorBodyTimeout), deadline_);
  if (!ec && parser.keep_alive()) {
    ++connection.exchanges;
    reusable_ = true;
  } else {
    connection.tcp().close();
  }
  co_return scrub(std::move(body), snapshot_.secrets);
}

// 429 or 5xx: nothing reached the client, so the request may go elsewhere. What the upstream
// said is kept, for the client's error should every target refuse.
awaitable<AttemptResult> Attempt::refused(UpstreamConnection& connection, Parser& parser) {
  const unsigned status = parser.get().result_int();
  AttemptResult result =
      status == 429
          ? AttemptResult::failed(Kind::status, "status_429", "HTTP 429 (rate limited)")
          : AttemptResult::failed(Kind::status, "status_5xx", "HTTP " + std::to_string(status));
  result.failure.status = status;
  result.failure.retry_after = retry_after_of(parser.get());
  UpstreamRefusal refusal;
  refusal.status = status;
  refusal.content_type = field_value(parser.get(), http::field::content_type);
  // Named: a range-for keeps only fields()'s span alive, not the PassedHeaders it views.
  const PassedHeaders passed(parser.get());
  for (const Field& field : passed.fields()) {
    refusal.headers.emplace_back(field.name, field.value);
  }
  std::string body = co_await read_short_body(connection, parser);
  // In OpenAI's shape whatever the provider's; a spend limit is not retried here.
  provider::UpstreamError error = provider_.error(request_, status, std::move(body));
  result.failure.exhausted = error.exhausted;
  if (provider_.translates(request_)) refusal.content_type = "application/json";
  refusal.body = std::move(error.body);
  result.refusal = std::move(refusal);
  co_return result;
}

// The client's own mistake, as the upstream judged it: passed through, minus every secret.
awaitable<AttemptResult> Attempt::pass_client_error(UpstreamConnection& connection,
                                                    Parser& parser) {
  std::string scrubbed = co_await read_short_body(connection, parser);
  scrubbed = provider_.error(request_, parser.get().result_int(), std::move(scrubbed)).body;
  Answer answer;
  answer.status = parser.get().result_int();
  answer.outcome = metering::Outcome::client_error;
  answer.first_byte = core::Clock::now();
  listener_.on_answer(answer);
  const std::string head = response_head(
      answer.status, reply_.version(), reply_.keep_alive(),
      {{"Content-Type",
        provider_.translates(request_)
            ? std::string_view("application/json")
            : content_type_or_json(field_value(parser.get(), http::field::content_type))},
       {"x-fulcrum-request-id", labels_.request_id},
       {"x-fulcrum-endpoint", endpoint_.name},
       {"x-fulcrum-route", labels_.route},
       {"x-fulcrum-reason", labels_.reason},
       {"x-fulcrum-service-tier", labels_.service_tier},
       {"x-fulcrum-warning", warning_}},
      Framing::content_length(scrubbed.size()), PassedHeaders(parser.get()).fields());
  const bool delivered = co_await reply_.send(head, scrubbed);
  co_return AttemptResult::answered_with(delivered);
}

awaitable<AttemptResult> Attempt::relay_whole(UpstreamConnection& connection, Parser& parser) {
  std::string body;
  const error_code ec = co_await read_body(connection, parser, body, kMaxWholeResponseBytes,
                                           timeouts_.idle, deadline_);
  if (ec) {
    connection.tcp().close();
    const bool timed_out = ec == beast::error::timeout;
    co_return AttemptResult::failed(timed_out ? Kind::timeout : Kind::reset,
                                    timed_out ? "idle_timeout" : "reset",
                                    "response body failed (" + ec.message() + ")");
  }
  ++connection.exchanges;
  reusable_ = parser.keep_alive();
  if (!reusable_) connection.tcp().close();

  Answer answer;
  answer.status = parser.get().result_int();
  if (request_.operation == api::Operation::responses) {
    api::ResponsesReading reading = api::read_responses_body(body);
    answer.usage = reading.usage;
    if (reading.stored) answer.response_id = std::move(reading.id);
  } else {
    answer.usage = provider_.answer(request_, body);  // translated in place if need be
  }
  if (!answer.usage) answer.generated_chars = api::generated_chars(body);
  answer.first_byte = core::Clock::now();
  const Charge charge = listener_.on_answer(answer);
  const core::DecimalText cost = charge.charged.decimal();
  const core::DecimalText marginal = charge.marginal.decimal();
  const std::string head = response_head(
      answer.status, reply_.version(), reply_.keep_alive(),
      {{"Content-Type",
        provider_.translates(request_)
            ? std::string_view("application/json")
            : content_type_or_json(field_value(parser.get(), http::field::content_type))},
       {"x-fulcrum-request-id", labels_.request_id},
       {"x-fulcrum-endpoint", endpoint_.name},
       {"x-fulcrum-route", labels_.route},
       {"x-fulcrum-reason", labels_.reason},
       {"x-fulcrum-cost-usd", cost.view()},
       {"x-fulcrum-marginal-cost-usd", marginal.view()},
       {"x-fulcrum-service-tier", labels_.service_tier},
       {"x-fulcrum-warning", warning_}},
      Framing::content_length(body.size()), PassedHeaders(parser.get()).fields());
  const bool delivered = co_await reply_.send(head, body);
  co_return AttemptResult::answered_with(delivered);
}

awaitable<AttemptResult> Attempt::refuse_untranslatable(const api::ApiError& error) {
  Answer answer;
  answer.status = error.status;
  answer.outcome = metering::Outcome::client_error;
  answer.first_byte = core::Clock::now();
  listener_.on_answer(answer);
  const std::string body = error.to_json(request_.operation);
  const std::string head = response_head(answer.status, reply_.version(), reply_.keep_alive(),
                                         {{"Content-Type", "application/json"},
                                          {"x-fulcrum-request-id", labels_.request_id},
                                          {"x-fulcrum-endpoint", endpoint_.name},
                                          {"x-fulcrum-route", labels_.route},
                                          {"x-fulcrum-reason", labels_.reason}},
                                         Framing::content_length(body.size()));
  const bool delivered = co_await reply_.send(head, body);
  co_return AttemptResult::answered_with(delivered);
}

}  // namespace fulcrum::net
