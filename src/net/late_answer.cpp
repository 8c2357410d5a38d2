#include "late_answer.hpp"

#include <spdlog/spdlog.h>

#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/provider/provider.hpp"
#include "request_meter.hpp"
#include "upstream_io.hpp"

namespace fulcrum::net {
namespace {

// A late answer is read for its usage only: a body beyond this is not worth holding.
constexpr std::size_t kMaxLateBodyBytes = 8u << 20;

// The usage in a whole JSON body, or in the events of an SSE one, as the endpoint's provider
// reports it (Anthropic's usage is read by Anthropic's rules, its stream by its events).
std::optional<core::Usage> usage_of(const LateAnswer& late, std::string body, bool streamed) {
  const config::Config& config = late.snapshot->config;
  const config::Endpoint& endpoint =
      config.endpoints[config.models[late.alias].targets[late.target].endpoint];
  const provider::Provider& wire = provider::provider_of(endpoint.provider.kind);
  api::ParsedRequest request;
  request.operation = late.operation;
  if (!streamed) return wire.answer(request, body);
  api::SseScanner scanner;
  std::string data;
  if (auto reader = wire.stream(request)) {
    std::string ignored;
    if (reader->binary()) {
      reader->on_bytes(body, ignored);
      return reader->state().usage;
    }
    scanner.feed(body, [&](std::string_view event) {
      data.clear();
      if (api::sse_data(event, data)) reader->on_event(data, ignored);
    });
    return reader->state().usage;
  }
  std::optional<core::Usage> usage;
  scanner.feed(body, [&](std::string_view event) {
    data.clear();
    if (api::may_carry_usage(event) && api::sse_data(event, data)) {
      if (auto found = api::usage_in_document(data)) usage = found;
    }
  });
  return usage;
}

void meter(const LateAnswer& late, unsigned status, const core::Usage& usage, Runtime& runtime) {
  const config::Config& config = late.snapshot->config;
  const config::Target& target = config.models[late.alias].targets[late.target];
  const config::Endpoint& endpoint = config.endpoints[target.endpoint];
  MeterEvent event(late.snapshot);
  event.request_id = late.request_id;
  event.principal = late.principal;
  event.alias = late.alias;
  event.target = std::pair(late.alias, late.target);
  event.answered = true;
  event.route = late.route;
  event.slo_class = late.slo_class;
  event.late = true;
  event.status = status;
  event.attempts = 1;
  event.usage = usage;
  event.started = late.attempt_started;
  event.finished = core::Clock::now();
  event.charge =
      charge_for(endpoint, target, usage, event.finished - late.attempt_started, late.flex);
  metering::BudgetReservation no_reservation;
  auth::RateReservation no_rate;
  SharedHolds no_holds;
  meter_event(event, runtime, no_reservation, no_rate, no_holds, late.shared);
  spdlog::info(
      "late_answer_metered request_id={} endpoint={} input_tokens={} output_tokens={} "
      "cost_usd={}",
      late.request_id, endpoint.name, usage.input, usage.output,
      event.charge.marginal.to_decimal());
}

}  // namespace

awaitable<void> meter_late_answer(std::unique_ptr<UpstreamConnection> connection, LateAnswer late,
                                  Runtime& runtime) {
  runtime.late_answers_pending.fetch_add(1, std::memory_order_relaxed);
  struct Done {
    Runtime& runtime;
    ~Done() { runtime.late_answers_pending.fetch_sub(1, std::memory_order_relaxed); }
  } done{runtime};
  // The head was not complete when the attempt gave up; what had arrived is still buffered.
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxLateBodyBytes);
  connection->tcp().expires_after(left_until(late.deadline));
  error_code ec;
  co_await http::async_read(*connection, connection->buffer, parser, as_result(ec));
  connection->tcp().close();
  if (ec) {
    spdlog::info("late_answer_lost request_id={} reason={}", late.request_id, ec.message());
    co_return;
  }
  const unsigned status = parser.get().result_int();
  const bool streamed = is_event_stream(parser.get());
  if (const auto usage = usage_of(late, std::move(parser.release().body()), streamed)) {
    meter(late, status, *usage, runtime);
  }
}

}  // namespace fulcrum::net
