#include "proxy_handler.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <limits>

#include "exchange.hpp"
#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/metering/cost.hpp"
#include "fulcrum/net/http_util.hpp"
#include "fulcrum/router/plan.hpp"
#include "late_answer.hpp"
#include "wire.hpp"

namespace fulcrum::net {
namespace {

using metering::Outcome;

// A non-streamed response is held whole to put its cost in a header; beyond this it is
// refused rather than exhausting memory. Large embedding batches fit comfortably.
constexpr std::size_t kMaxWholeResponseBytes = 256u << 20;
// An upstream's own 4xx explanation is short; longer bodies are cut.
constexpr std::size_t kMaxErrorBodyBytes = 1u << 20;
constexpr std::size_t kReadChunk = 16 * 1024;

// Never wait past the attempt's total deadline, and never arm a zero timer. Rounded up, so
// that a timer armed for a deadline fires at or after it, never a fraction before.
core::Duration bounded(core::Duration op, TimePoint deadline) {
  const auto left = std::chrono::ceil<core::Duration>(deadline - core::Clock::now());
  return std::max(core::Duration(1), std::min(op, left));
}

// Upstream text may echo the key we sent (some providers quote a bad key back), or any other
// secret the gateway holds: every one is replaced before the text goes anywhere.
std::string scrub(std::string text, const std::vector<const core::Secret*>& secrets) {
  for (const core::Secret* key : secrets) {
    const std::string_view secret = key->reveal();
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  return text;
}

// Retry-After in seconds (the HTTP-date form is rare from APIs and not honoured).
std::optional<core::Duration> parse_retry_after(std::string_view value) {
  std::uint64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
  return core::Duration(std::chrono::seconds(std::min<std::uint64_t>(seconds, 86400)));
}

bool is_stale_close(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message;
}

bool has_empty_choices(std::string_view json_text) {
  const auto document = nlohmann::json::parse(json_text, nullptr, false);
  if (!document.is_object()) return false;
  const auto choices = document.find("choices");
  return choices != document.end() && choices->is_array() && choices->empty();
}

// Reads the rest of a response body into `out`, each read bounded by the idle timeout and
// all by the attempt's deadline.
template <class Stream, class Parser>
awaitable<error_code> read_body(Stream& upstream, UpstreamConnection& connection, Parser& parser,
                                std::string& out, std::size_t limit, core::Duration idle,
                                TimePoint deadline) {
  error_code ec;
  while (!parser.is_done()) {
    // Grow by what the body still needs when Content-Length says so: resize() zero-fills,
    // and a fixed 16 KiB step would clear far more memory than a typical response holds.
    const std::size_t used = out.size();
    const auto length = parser.content_length_remaining();
    const std::size_t step =
        length && *length > 0 ? std::min<std::size_t>(*length, limit + 1) : kReadChunk;
    out.resize(used + step);
    parser.get().body().data = out.data() + used;
    parser.get().body().size = step;
    connection.tcp().expires_after(bounded(idle, deadline));
    co_await http::async_read(upstream, connection.buffer, parser, as_result(ec));
    if (ec == http::error::need_buffer) ec = {};
    out.resize(used + step - parser.get().body().size);
    if (ec) co_return ec;
    if (out.size() > limit) co_return http::error::body_limit;
  }
  co_return ec;
}

}  // namespace

awaitable<bool> ProxyHandler::handle(beast::tcp_stream& client, Request& request) {
  const std::string_view path = path_of(request.target());
  std::optional<api::Operation> op;
  if (path == "/v1/chat/completions") op = api::Operation::chat_completions;
  if (path == "/v1/completions") op = api::Operation::completions;
  if (path == "/v1/embeddings") op = api::Operation::embeddings;
  if (op && request.method() == http::verb::post) co_return co_await proxy(client, request, *op);

  const auto snapshot = runtime_.snapshot();
  const auto client_timeout = snapshot->config.server.limits.idle_timeout;
  if (path == "/v1/models" && request.method() == http::verb::get) {
    auto res = json_response(200, snapshot->models_json, request.version(), request.keep_alive());
    co_return co_await write_response(client, res, client_timeout) && request.keep_alive();
  }
  const bool known = op || path == "/v1/models";
  const auto error = known ? api::ApiError::method_not_allowed(request.method_string(), path)
                           : api::ApiError::not_found(path);
  auto res = error_response(error, request.version(), request.keep_alive());
  if (known) res.set(http::field::allow, op ? "POST" : "GET");
  co_return co_await write_response(client, res, client_timeout) && request.keep_alive();
}

LateAnswer ProxyHandler::late_answer(const Exchange& ex) {
  LateAnswer late;
  late.snapshot = ex.snapshot;
  late.alias = ex.candidate->alias;
  late.target = ex.candidate->target;
  late.route = ex.plan.route;
  late.slo_class = ex.plan.slo_class;
  late.request_id = std::string(ex.id.view());
  late.principal = ex.principal;
  late.attempt_started = ex.attempt_started;
  late.deadline = ex.deadline;
  late.wall_started = core::WallClock::now() - (core::Clock::now() - ex.attempt_started);
  return late;
}

awaitable<ProxyHandler::AttemptResult> ProxyHandler::attempt(beast::tcp_stream& client,
                                                             Exchange& ex) {
  const config::Config& config = ex.snapshot->config;
  const router::Candidate& candidate = *ex.candidate;
  ex.target = &config.models[candidate.alias].targets[candidate.target];
  ex.endpoint = &config.endpoints[ex.target->endpoint];
  ex.meters = &ex.snapshot->meters->by_alias[candidate.alias][candidate.target];
  ex.timeouts = ex.endpoint->timeouts.with(config.routes[ex.plan.route].timeouts);
  ex.attempt_started = core::Clock::now();
  ex.deadline = ex.attempt_started + ex.timeouts.total;
  ++ex.attempts;

  const metering::InFlight busy(ex.snapshot->meters->in_flight[ex.target->endpoint]);
  const metering::Occupancy occupancy(ex.snapshot->economics->meter(ex.target->endpoint));

  // Built fresh: nothing of the client's framing or hop-by-hop headers reaches the upstream.
  const core::Url& base = ex.endpoint->base_url;
  UpstreamRequest upstream_request;
  upstream_request.body = api::upstream_body(ex.request, ex.target->upstream_model);
  upstream_request.head =
      upstream_request_head(base, api::upstream_path(ex.request.operation),
                            ex.request.stream ? "text/event-stream" : "application/json",
                            user_agent_, ex.endpoint->api_key, upstream_request.body.size());

  UpstreamPool& pool = worker_.pool(*ex.snapshot, ex.target->endpoint);
  for (int fresh = 0; fresh < 2; ++fresh) {
    std::unique_ptr<UpstreamConnection> connection = fresh == 0 ? pool.take_idle() : nullptr;
    const bool reused = connection != nullptr;
    if (!connection) {
      error_code ec;
      connection = co_await pool.connect(
          std::min(ex.timeouts.connect, bounded(ex.timeouts.total, ex.deadline)), ec);
      if (ec) {
        const bool timed_out = ec == beast::error::timeout || ec == asio::error::operation_aborted;
        co_return AttemptResult::retry("connect", "cannot connect (" + ec.message() + ")",
                                       timed_out);
      }
    }
    // Two statements, not `c ? co_await a : co_await b`: GCC 12 destroys the result of a
    // co_await inside a conditional expression twice.
    AttemptResult result;
    if (auto* tls = connection->tls()) {
      result = co_await exchange_on(*tls, *connection, reused, client, ex, upstream_request);
    } else {
      result = co_await exchange_on(*connection->plain(), *connection, reused, client, ex,
                                    upstream_request);
    }
    if (result.kind == AttemptResult::Kind::stale) continue;
    if (result.late_answer_possible) {
      asio::co_spawn(worker_.io,
                     meter_late_answer(std::move(connection), late_answer(ex), runtime_),
                     asio::detached);
      co_return result;
    }
    if (result.kind == AttemptResult::Kind::done && connection->exchanges > 0 &&
        connection->tcp().socket().is_open()) {
      pool.give_back(std::move(connection));
    }
    co_return result;
  }
  co_return AttemptResult::retry("reset", "connection closed by upstream");
}

template <class Stream>
awaitable<ProxyHandler::AttemptResult> ProxyHandler::exchange_on(
    Stream& upstream, UpstreamConnection& connection, bool reused, beast::tcp_stream& client,
    Exchange& ex, const UpstreamRequest& upstream_request) {
  const config::Timeouts& timeouts = ex.timeouts;
  error_code ec;
  const TimePoint first_byte_deadline =
      core::Clock::now() + bounded(timeouts.first_byte, ex.deadline);
  connection.tcp().expires_at(first_byte_deadline);
  const std::array<asio::const_buffer, 2> request_bytes{asio::buffer(upstream_request.head),
                                                        asio::buffer(upstream_request.body)};
  co_await asio::async_write(upstream, request_bytes, as_result(ec));
  if (ec) {
    if (reused && is_stale_close(ec)) co_return AttemptResult::stale();
    co_return AttemptResult::retry("reset", "write failed (" + ec.message() + ")",
                                   ec == beast::error::timeout);
  }

  http::response_parser<http::buffer_body> parser;
  // Bounded by the idle and total deadlines instead. Not boost::none: Beast 1.74 compares
  // Content-Length > none as true and rejects every response that has one.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  // At first_byte the attempt gives up, but the socket stays open (a cancel, not the stream's
  // timeout, which would close it): a late answer is still read and metered (late_answer.hpp).
  connection.tcp().expires_at(ex.deadline);
  // Shared with the timer's handler, which may run after this frame is gone (expired just
  // as the head arrived): it touches the connection only while the head is awaited.
  struct HeadWait {
    bool arrived = false;
    bool gave_up = false;
  };
  const auto wait = std::make_shared<HeadWait>();
  asio::steady_timer first_byte(worker_.io, first_byte_deadline);
  first_byte.async_wait([wait, &socket = connection.tcp().socket()](const error_code& waited) {
    if (waited || wait->arrived) return;
    wait->gave_up = true;
    error_code ignored;
    socket.cancel(ignored);
  });
  co_await http::async_read_header(upstream, connection.buffer, parser, as_result(ec));
  wait->arrived = true;
  first_byte.cancel();
  if (wait->gave_up && ec == asio::error::operation_aborted) {
    AttemptResult late = AttemptResult::retry("first_byte_timeout",
                                              "no response within the first_byte timeout", true);
    late.late_answer_possible = true;
    co_return late;
  }
  if (ec == beast::error::timeout) {
    co_return AttemptResult::retry("first_byte_timeout",
                                   "no response within the first_byte timeout", true);
  }
  if (ec) {
    if (reused && is_stale_close(ec)) co_return AttemptResult::stale();
    co_return AttemptResult::retry("reset",
                                   "connection failed before a response (" + ec.message() + ")");
  }

  const unsigned status = parser.get().result_int();
  if (status == 429 || status >= 500) {
    // The body is not read: the connection is closed rather than drained.
    connection.tcp().close();
    AttemptResult result =
        status == 429 ? AttemptResult::retry("status_429", "HTTP 429 (rate limited)")
                      : AttemptResult::retry("status_5xx", "HTTP " + std::to_string(status));
    result.status = status;
    result.retry_after = parse_retry_after(parser.get()[http::field::retry_after]);
    co_return result;
  }
  if (status >= 300 && status < 400) {
    // Redirects are never followed: a redirect could carry the provider key elsewhere.
    co_return AttemptResult::retry("redirect", "HTTP " + std::to_string(status) + " (redirect)");
  }
  if (status >= 400 || status < 200) {
    // The client's own mistake, as the upstream judged it: pass it through, minus secrets.
    std::string body;
    ec = co_await read_body(upstream, connection, parser, body, kMaxErrorBodyBytes, timeouts.idle,
                            ex.deadline);
    http::response<http::string_body> res{static_cast<http::status>(status), ex.version};
    res.set(http::field::content_type, parser.get()[http::field::content_type].empty()
                                           ? "application/json"
                                           : parser.get()[http::field::content_type]);
    ex.decision_headers(res);
    res.body() = scrub(std::move(body), ex.snapshot->secrets);
    res.keep_alive(ex.keep_alive);
    res.prepare_payload();
    ex.status = status;
    ex.outcome = Outcome::client_error;
    ex.first_byte = core::Clock::now();
    if (!ec && parser.keep_alive()) {
      ++connection.exchanges;
    } else {
      connection.tcp().close();
    }
    meter(ex);
    co_return AttemptResult::done(co_await write_response(client, res, timeouts.idle));
  }

  const bool is_sse =
      beast::iequals(parser.get()[http::field::content_type].substr(0, 17), "text/event-stream");
  if (is_sse) co_return co_await relay_stream(upstream, connection, parser, client, ex);
  co_return co_await relay_whole(upstream, connection, parser, client, ex);
}

template <class Stream, class Parser>
awaitable<ProxyHandler::AttemptResult> ProxyHandler::relay_stream(Stream& upstream,
                                                                  UpstreamConnection& connection,
                                                                  Parser& parser,
                                                                  beast::tcp_stream& client,
                                                                  Exchange& ex) {
  const config::Timeouts& timeouts = ex.timeouts;
  // HTTP/1.0 has no chunked encoding: such a client gets the stream delimited by closing.
  const bool chunked = ex.version >= 11;
  const bool keep_alive = ex.keep_alive && chunked;
  std::string head;  // sent with the first events, in the same write

  api::SseScanner scanner;
  std::array<char, kReadChunk> buffer;
  std::string out;   // the events of one upstream read, relayed as one chunk
  std::string data;  // scratch for an event's data payload
  bool saw_done = false;
  error_code upstream_ec;
  error_code client_ec;

  // Writes `payload` as one chunk (or raw for HTTP/1.0), preceded by the head if unsent.
  const auto send = [&](std::string_view payload, bool last) -> awaitable<void> {
    char size_line[20];
    const int size_length = std::snprintf(size_line, sizeof size_line, "%zx\r\n", payload.size());
    std::array<asio::const_buffer, 5> pieces{
        asio::buffer(head), asio::buffer(size_line, chunked && !payload.empty() ? size_length : 0),
        asio::buffer(payload), asio::buffer("\r\n", chunked && !payload.empty() ? 2 : 0),
        asio::buffer("0\r\n\r\n", chunked && last ? 5 : 0)};
    client.expires_after(timeouts.idle);
    co_await asio::async_write(client, pieces, as_result(client_ec));
    head.clear();
    ex.status = 200;
  };
  bool head_sent = false;
  const auto ensure_head = [&] {
    if (head_sent) return;
    head_sent = true;
    head = response_head(200, ex.version, keep_alive,
                         {{"Content-Type", "text/event-stream"},
                          {"Cache-Control", "no-cache"},
                          {"x-fulcrum-request-id", ex.id.view()},
                          {"x-fulcrum-endpoint", ex.endpoint->name},
                          {"x-fulcrum-route", ex.route_name},
                          {"x-fulcrum-reason", ex.reason}},
                         chunked ? Framing::chunked() : Framing::until_close());
  };

  const auto on_event = [&](std::string_view event) {
    if (event.find("[DONE]") != std::string_view::npos) {
      data.clear();
      if (api::sse_data(event, data) && data == "[DONE]") saw_done = true;
    } else if (api::may_carry_usage(event)) {
      data.clear();
      if (api::sse_data(event, data)) {
        if (auto usage = api::usage_in_document(data)) ex.usage = usage;
        // We asked for the usage-only final chunk; a client that did not ask never sees it.
        if (!ex.request.client_wants_usage && has_empty_choices(data)) return;
      }
    } else {
      ex.generated_chars += api::generated_chars(event);
    }
    out.append(event);
  };

  // One upstream read, its complete events scanned into `out`.
  const auto read_events = [&](TimePoint deadline) -> awaitable<void> {
    parser.get().body().data = buffer.data();
    parser.get().body().size = buffer.size();
    connection.tcp().expires_after(bounded(timeouts.idle, deadline));
    co_await http::async_read_some(upstream, connection.buffer, parser, as_result(upstream_ec));
    if (upstream_ec == http::error::need_buffer) upstream_ec = {};
    out.clear();
    scanner.feed({buffer.data(), buffer.size() - parser.get().body().size}, on_event);
  };

  for (;;) {
    // A drain ends what is still streaming at its deadline, with an error event (below).
    co_await read_events(std::min(ex.deadline, worker_.drain_deadline));
    if (parser.is_done() && !upstream_ec) out.append(scanner.remainder());
    if (parser.is_done() && !upstream_ec) break;  // the last events go out with the terminator
    if (!out.empty()) {
      ensure_head();
      co_await send(out, false);
      if (!ex.first_byte) ex.first_byte = core::Clock::now();
      if (client_ec) break;
    }
    if (upstream_ec) break;
  }

  if (client_ec) {
    // The client left, but the tokens are spent: keep reading (not relaying) until the
    // usage chunk arrives, within usage_drain_timeout, so the ledger gets the real usage.
    ex.outcome = Outcome::client_closed;
    const TimePoint drain_deadline =
        std::min(ex.deadline, core::Clock::now() + ex.snapshot->config.server.usage_drain_timeout);
    while (!ex.usage && !parser.is_done() && !upstream_ec && core::Clock::now() < drain_deadline) {
      co_await read_events(drain_deadline);
    }
    connection.tcp().close();
    if (ex.usage) ex.cost = metering::marginal_cost(ex.target->price, *ex.usage);
    co_return AttemptResult::done(false);
  }
  if (ex.usage) ex.cost = metering::marginal_cost(ex.target->price, *ex.usage);
  if (upstream_ec && !head_sent) {
    // Nothing reached the client yet, so another target may still serve it.
    connection.tcp().close();
    const bool timed_out = upstream_ec == beast::error::timeout;
    co_return AttemptResult::retry(
        timed_out ? "first_byte_timeout" : "reset",
        "stream failed before its first event (" + upstream_ec.message() + ")", timed_out);
  }
  if (upstream_ec) {
    // Cut after the first byte: say so in-band, and end without [DONE] so no client mistakes
    // the truncated stream for a complete one.
    connection.tcp().close();
    const bool timed_out = upstream_ec == beast::error::timeout;
    const bool drained = timed_out && core::Clock::now() >= worker_.drain_deadline;
    ex.outcome = timed_out ? Outcome::timeout : Outcome::upstream_error;
    const auto error =
        drained ? api::ApiError::service_unavailable(
                      "Fulcrum is shutting down and its drain timeout has passed: the stream "
                      "was ended before completion. Retry the request.")
        : timed_out
            ? api::ApiError::gateway_timeout("The upstream stream stalled beyond the idle timeout.")
            : api::ApiError::bad_gateway("The upstream stream was cut.");
    if (drained) spdlog::warn("stream_ended_by_drain request_id={}", ex.id.view());
    out = "data: " + error.to_json() + "\n\n";
  } else {
    ex.outcome = Outcome::success;
    ++connection.exchanges;
    if (!parser.keep_alive()) connection.tcp().close();
    if (!saw_done) spdlog::warn("stream_without_done request_id={}", ex.id.view());
  }
  // The final events and the terminator leave in one write, after metering.
  ensure_head();
  meter(ex);
  co_await send(out, true);
  if (!ex.first_byte) ex.first_byte = core::Clock::now();
  if (client_ec) ex.outcome = Outcome::client_closed;
  co_return AttemptResult::done(!client_ec && !upstream_ec && keep_alive);
}

template <class Stream, class Parser>
awaitable<ProxyHandler::AttemptResult> ProxyHandler::relay_whole(Stream& upstream,
                                                                 UpstreamConnection& connection,
                                                                 Parser& parser,
                                                                 beast::tcp_stream& client,
                                                                 Exchange& ex) {
  const config::Timeouts& timeouts = ex.timeouts;
  std::string body;
  const error_code ec = co_await read_body(upstream, connection, parser, body,
                                           kMaxWholeResponseBytes, timeouts.idle, ex.deadline);
  if (ec) {
    connection.tcp().close();
    const bool timed_out = ec == beast::error::timeout;
    co_return AttemptResult::retry(timed_out ? "idle_timeout" : "reset",
                                   "response body failed (" + ec.message() + ")", timed_out);
  }
  ++connection.exchanges;
  if (!parser.keep_alive()) connection.tcp().close();

  ex.usage = api::usage_in_document(body);
  if (ex.usage) {
    ex.cost = metering::marginal_cost(ex.target->price, *ex.usage);
    charge(ex);
  } else {
    ex.generated_chars = api::generated_chars(body);
  }
  const auto content_type = parser.get()[http::field::content_type];
  const core::DecimalText cost = ex.chargeback.decimal();
  const core::DecimalText marginal = ex.cost.decimal();
  const std::string head =
      response_head(parser.get().result_int(), ex.version, ex.keep_alive,
                    {{"Content-Type", content_type.empty() ? "application/json" : content_type},
                     {"x-fulcrum-request-id", ex.id.view()},
                     {"x-fulcrum-endpoint", ex.endpoint->name},
                     {"x-fulcrum-route", ex.route_name},
                     {"x-fulcrum-reason", ex.reason},
                     {"x-fulcrum-cost-usd", cost.view()},
                     {"x-fulcrum-marginal-cost-usd", marginal.view()}},
                    Framing::content_length(body.size()));
  ex.status = parser.get().result_int();
  ex.outcome = Outcome::success;
  ex.first_byte = core::Clock::now();
  meter(ex);
  const std::array<asio::const_buffer, 2> response{asio::buffer(head), asio::buffer(body)};
  error_code client_ec;
  client.expires_after(timeouts.idle);
  co_await asio::async_write(client, response, as_result(client_ec));
  co_return AttemptResult::done(!client_ec);
}

}  // namespace fulcrum::net
