#include "late_answer.hpp"

#include <spdlog/spdlog.h>

#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/api/usage.hpp"
#include "fulcrum/metering/cost.hpp"
#include "fulcrum/metering/provisioned.hpp"

namespace fulcrum::net {
namespace {

// A late answer is read for its usage only: a body beyond this is not worth holding.
constexpr std::size_t kMaxLateBodyBytes = 8u << 20;

std::int64_t unix_millis(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// The usage in a whole JSON body, or in the events of an SSE one.
std::optional<api::Usage> usage_of(std::string_view body, bool is_sse) {
  if (!is_sse) return api::usage_in_document(body);
  std::optional<api::Usage> usage;
  api::SseScanner scanner;
  std::string data;
  scanner.feed(body, [&](std::string_view event) {
    data.clear();
    if (api::may_carry_usage(event) && api::sse_data(event, data)) {
      if (auto found = api::usage_in_document(data)) usage = found;
    }
  });
  return usage;
}

template <class Stream>
awaitable<void> read_late(Stream& stream, UpstreamConnection& connection,
                          http::response_parser<http::string_body>& parser, error_code& ec) {
  co_await http::async_read(stream, connection.buffer, parser, as_result(ec));
}

void meter(const LateAnswer& late, unsigned status, const api::Usage& usage, Runtime& runtime) {
  const Snapshot& snapshot = *late.snapshot;
  const config::Config& config = snapshot.config;
  const config::Target& target = config.models[late.alias].targets[late.target];
  const config::Endpoint& endpoint = config.endpoints[target.endpoint];
  const metering::TargetMeters& meters = snapshot.meters->by_alias[late.alias][late.target];
  const core::Money cost = metering::marginal_cost(target.price, usage);
  const auto finished = core::Clock::now();
  const core::Money charged =
      endpoint.kind == config::EndpointKind::provisioned
          ? metering::amortized_cost(endpoint, usage, finished - late.attempt_started)
          : cost;
  runtime.metrics().add_usage(meters, usage, charged,
                              snapshot.meters->team_index(late.principal.team()));
  if (auto* economics = snapshot.economics->meter(target.endpoint)) {
    economics->served(finished, endpoint, usage, charged);
  }
  const core::WallTime wall_finished = core::WallClock::now();
  snapshot.budgets->settle(late.principal.id(), late.principal.team(), core::Money{}, cost,
                           wall_finished);
  spdlog::info(
      "late_answer_metered request_id={} endpoint={} input_tokens={} output_tokens={} "
      "cost_usd={}",
      late.request_id, endpoint.name, usage.input, usage.output, cost.to_decimal());
  metering::Ledger* ledger = runtime.ledger();
  if (ledger == nullptr) return;
  metering::LedgerRow row;
  row.keep_alive = late.snapshot;
  row.set_request_id(late.request_id);
  row.started_ms = unix_millis(late.wall_started);
  row.finished_ms = unix_millis(wall_finished);
  row.key_id = late.principal.id();
  row.team = late.principal.team();
  row.alias = config.models[late.alias].name;
  row.route = config.routes[late.route].name;
  row.slo_class = config.slo_classes[late.slo_class].name;
  row.endpoint = endpoint.name;
  row.endpoint_kind = config::to_string(endpoint.kind);
  row.upstream_model = target.upstream_model;
  row.input_tokens = usage.input;
  row.cached_tokens = usage.cached_input;
  row.output_tokens = usage.output;
  row.cost = cost;
  row.amortized_cost = charged;
  row.duration_ms =
      std::chrono::duration<double, std::milli>(finished - late.attempt_started).count();
  row.status = status;
  row.outcome = "abandoned";
  row.attempts = 1;
  ledger->record(std::move(row));
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
  connection->tcp().expires_at(late.deadline);
  error_code ec;
  if (auto* tls = connection->tls()) {
    co_await read_late(*tls, *connection, parser, ec);
  } else {
    co_await read_late(*connection->plain(), *connection, parser, ec);
  }
  connection->tcp().close();
  if (ec) {
    spdlog::info("late_answer_lost request_id={} reason={}", late.request_id, ec.message());
    co_return;
  }
  const auto& response = parser.get();
  const bool is_sse =
      beast::iequals(response[http::field::content_type].substr(0, 17), "text/event-stream");
  if (const auto usage = usage_of(response.body(), is_sse)) {
    meter(late, response.result_int(), *usage, runtime);
  }
}

}  // namespace fulcrum::net
