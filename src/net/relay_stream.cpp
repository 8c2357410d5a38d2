// The streamed half of an attempt: the upstream's SSE events relayed to the client as they
// arrive, one client write per upstream read, scanned on the way for usage; malformed events
// dropped; a stream cut after its first byte ended in-band with an error event.
#include <spdlog/spdlog.h>

#include <array>
#include <nlohmann/json.hpp>

#include "attempt.hpp"
#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/api/usage.hpp"
#include "upstream_io.hpp"
#include "wire.hpp"

namespace fulcrum::net {
namespace {

using Kind = router::AttemptFailure::Kind;
using metering::Outcome;

constexpr std::size_t kReadChunk = 16 * 1024;

bool has_empty_choices(std::string_view json_text) {
  const auto document = nlohmann::json::parse(json_text, nullptr, false);
  if (!document.is_object()) return false;
  const auto choices = document.find("choices");
  return choices != document.end() && choices->is_array() && choices->empty();
}

// What one stream's relay keeps between upstream reads.
class StreamRelay {
 public:
  StreamRelay(const api::ParsedRequest& request, std::string_view endpoint,
              std::string_view request_id)
      : request_(request), endpoint_(endpoint), request_id_(request_id) {}

  // Scans one read's bytes into whole events, appending those to relay to out().
  void feed(std::string_view bytes) {
    out_.clear();
    scanner_.feed(bytes, [this](std::string_view event) { on_event(event); });
  }
  void flush_remainder() { out_.append(scanner_.remainder()); }
  const std::string& out() const { return out_; }
  std::string& out() { return out_; }
  bool saw_done() const { return saw_done_; }
  std::size_t malformed() const { return malformed_; }
  Answer& answer() { return answer_; }

 private:
  void on_event(std::string_view event) {
    data_.clear();
    if (!api::sse_data(event, data_)) {
      out_.append(event);  // comments and keep-alives pass as they are
      return;
    }
    if (data_ == "[DONE]") {
      saw_done_ = true;
    } else if (!nlohmann::json::accept(data_)) {
      // Relayed, it would make the client's SDK throw in the middle of an otherwise complete
      // answer: dropped, counted, logged once per request.
      if (malformed_++ == 0) {
        spdlog::warn("upstream_malformed_event request_id={} endpoint={} bytes={}", request_id_,
                     endpoint_, data_.size());
      }
      return;
    } else if (api::may_carry_usage(data_)) {
      if (auto usage = api::usage_in_document(data_)) answer_.usage = usage;
      // We asked for the usage-only final chunk; a client that did not ask never sees it.
      if (!request_.client_wants_usage && has_empty_choices(data_)) return;
    } else {
      answer_.generated_chars += api::generated_chars(event);
    }
    out_.append(event);
  }

  const api::ParsedRequest& request_;
  std::string_view endpoint_;
  std::string_view request_id_;
  api::SseScanner scanner_;
  std::string out_;   // the events of one upstream read, relayed as one chunk
  std::string data_;  // scratch for an event's data payload
  bool saw_done_ = false;
  std::size_t malformed_ = 0;
  Answer answer_;
};

}  // namespace

awaitable<AttemptResult> Attempt::relay_stream(UpstreamConnection& connection, Parser& parser) {
  StreamRelay relay(request_, endpoint_.name, labels_.request_id);
  std::array<char, kReadChunk> buffer;
  error_code upstream_ec;
  // One upstream read, scanned. A drain ends what still streams at its deadline.
  const auto read_events = [&](TimePoint deadline) -> awaitable<void> {
    parser.get().body().data = buffer.data();
    parser.get().body().size = buffer.size();
    connection.tcp().expires_after(bounded(timeouts_.idle, deadline));
    co_await http::async_read_some(connection, connection.buffer, parser, as_result(upstream_ec));
    if (upstream_ec == http::error::need_buffer) upstream_ec = {};
    relay.feed({buffer.data(), buffer.size() - parser.get().body().size});
  };
  const auto head = [&] {
    return response_head(200, reply_.version(), reply_.keep_alive() && reply_.chunked(),
                         {{"Content-Type", "text/event-stream"},
                          {"Cache-Control", "no-cache"},
                          {"x-fulcrum-request-id", labels_.request_id},
                          {"x-fulcrum-endpoint", endpoint_.name},
                          {"x-fulcrum-route", labels_.route},
                          {"x-fulcrum-reason", labels_.reason}},
                         reply_.chunked() ? Framing::chunked() : Framing::until_close());
  };

  bool client_alive = true;
  for (;;) {
    co_await read_events(std::min(deadline_, worker_.drain_deadline));
    if (parser.is_done() && !upstream_ec) {
      relay.flush_remainder();  // the last events go out with the terminator
      break;
    }
    if (!relay.out().empty()) {
      if (reply_.progress() == ClientReply::Progress::nothing) reply_.begin_stream(head());
      client_alive = co_await reply_.write(relay.out());
      if (!relay.answer().first_byte) relay.answer().first_byte = core::Clock::now();
      if (!client_alive) break;
    }
    if (upstream_ec) break;
  }
  if (relay.malformed() > 0) {
    runtime_.metrics().malformed_events(*snapshot_.meters, target_.endpoint, relay.malformed());
  }

  Answer& answer = relay.answer();
  if (!client_alive) {
    // The client left, but the tokens are spent: keep reading (not relaying) until the
    // usage chunk arrives, within usage_drain_timeout, so the ledger gets the real usage.
    const TimePoint drain_deadline =
        std::min(deadline_, core::Clock::now() + snapshot_.config.server.usage_drain_timeout);
    while (!answer.usage && !parser.is_done() && !upstream_ec &&
           core::Clock::now() < drain_deadline) {
      co_await read_events(drain_deadline);
    }
    connection.tcp().close();
    answer.status = 200;
    answer.outcome = Outcome::client_closed;
    listener_.on_answer(answer);
    co_return AttemptResult::answered_with(false);
  }
  if (upstream_ec && reply_.progress() == ClientReply::Progress::nothing) {
    // Nothing reached the client yet, so another target may still serve it.
    connection.tcp().close();
    const bool timed_out = upstream_ec == beast::error::timeout;
    co_return AttemptResult::failed(
        timed_out ? Kind::timeout : Kind::reset, timed_out ? "first_byte_timeout" : "reset",
        "stream failed before its first event (" + upstream_ec.message() + ")");
  }

  answer.status = 200;
  if (upstream_ec) {
    // Cut after the first byte: say so in-band, and end without [DONE] so no client mistakes
    // the truncated stream for a complete one.
    connection.tcp().close();
    const bool timed_out = upstream_ec == beast::error::timeout;
    const bool drained = timed_out && core::Clock::now() >= worker_.drain_deadline;
    answer.outcome = timed_out ? Outcome::timeout : Outcome::upstream_error;
    const auto error =
        drained ? api::ApiError::service_unavailable(
                      "Fulcrum is shutting down and its drain timeout has passed: the stream "
                      "was ended before completion. Retry the request.")
        : timed_out
            ? api::ApiError::gateway_timeout("The upstream stream stalled beyond the idle timeout.")
            : api::ApiError::bad_gateway("The upstream stream was cut.");
    if (drained) spdlog::warn("stream_ended_by_drain request_id={}", labels_.request_id);
    relay.out() = "data: " + error.to_json() + "\n\n";
  } else {
    answer.outcome = Outcome::success;
    ++connection.exchanges;
    if (!parser.keep_alive()) connection.tcp().close();
    if (!relay.saw_done()) spdlog::warn("stream_without_done request_id={}", labels_.request_id);
  }
  // The final events and the terminator leave in one write, after metering.
  if (reply_.progress() == ClientReply::Progress::nothing) reply_.begin_stream(head());
  if (!answer.first_byte) answer.first_byte = core::Clock::now();
  listener_.on_answer(answer);
  const bool delivered = co_await reply_.end(relay.out());
  co_return AttemptResult::answered_with(delivered && !upstream_ec && reply_.chunked() &&
                                         reply_.keep_alive());
}

}  // namespace fulcrum::net
