// The streamed half of an attempt: the upstream's SSE events relayed to the client as they
// arrive, one client write per upstream read, scanned on the way for usage; malformed events
// dropped; a stream cut after its first byte ended in-band with an error event.
#include <spdlog/spdlog.h>

#include <array>
#include <nlohmann/json.hpp>

#include "attempt.hpp"
#include "fulcrum/api/responses.hpp"
#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/api/usage.hpp"
#include "upstream_headers.hpp"
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

}  // namespace

// One stream's relay: what it keeps between upstream reads, and its three endings (complete
// or cut in-band; failed before the first byte, so another target may serve; the client left).
class Attempt::StreamRelay {
 public:
  StreamRelay(Attempt& attempt, UpstreamConnection& connection, Parser& parser)
      : a_(attempt),
        connection_(connection),
        parser_(parser),
        translator_(attempt.provider_.stream(attempt.request_)) {}

  awaitable<AttemptResult> run() {
    for (;;) {
      // A drain ends what still streams at its deadline.
      co_await read_events(std::min(a_.deadline_, a_.worker_.drain_deadline));
      if (parser_.is_done() && !upstream_ec_) {
        // The last events go out with the terminator; an event without its blank line is
        // still an event (and a translated one is translated).
        if (translator_ && !scanner_.remainder().empty()) {
          const std::string last(scanner_.remainder());
          on_event(last);
        } else {
          out_.append(scanner_.remainder());
        }
        // A failure before any content falls over even when it came with the body's end.
        if (!fell_over_before_content()) break;
      }
      if (fell_over_before_content()) {
        // The upstream failed before any content and the client has nothing yet: another
        // target may serve (Anthropic's overloaded_error and Bedrock's throttlingException
        // arrive this way, after a 200; so does a corrupt Bedrock frame).
        connection_.tcp().close();
        AttemptResult failed = AttemptResult::failed(Kind::status, "status_5xx",
                                                     "the stream failed before its first content");
        failed.failure.status = 529;  // as Anthropic's overloaded_error
        co_return failed;
      }
      if (!out_.empty()) {
        if (a_.reply_.progress() == ClientReply::Progress::nothing) a_.reply_.begin_stream(head());
        const bool delivered = co_await a_.reply_.write(out_);
        if (!answer_.first_byte) answer_.first_byte = core::Clock::now();
        if (!delivered) co_return co_await client_left();
      }
      if (upstream_ec_) break;
    }
    count_malformed();
    if (upstream_ec_ && a_.reply_.progress() == ClientReply::Progress::nothing) {
      // Nothing reached the client yet, so another target may still serve it.
      connection_.tcp().close();
      const bool timed_out = upstream_ec_ == beast::error::timeout;
      co_return AttemptResult::failed(
          timed_out ? Kind::timeout : Kind::reset, timed_out ? "first_byte_timeout" : "reset",
          "stream failed before its first event (" + upstream_ec_.message() + ")");
    }
    co_return co_await end();
  }

 private:
  // One upstream read, its complete events scanned into out_.
  awaitable<void> read_events(TimePoint deadline) {
    parser_.get().body().data = buffer_.data();
    parser_.get().body().size = buffer_.size();
    expire_in(connection_.tcp(), bounded(a_.timeouts_.idle, deadline));
    co_await http::async_read_some(connection_, connection_.buffer, parser_,
                                   as_result(upstream_ec_));
    if (upstream_ec_ == http::error::need_buffer) upstream_ec_ = {};
    out_.clear();
    const std::string_view bytes(buffer_.data(), buffer_.size() - parser_.get().body().size);
    if (translator_ && translator_->binary()) {
      // Bedrock's binary frames: the translator splits them itself.
      translator_->on_bytes(bytes, out_);
      take_translated_state();
    } else {
      scanner_.feed(bytes, [this](std::string_view event) { on_event(event); });
    }
  }

  // What a translated stream has said so far: its usage, its end, its failure.
  void take_translated_state() {
    ++events_;
    const provider::StreamState& state = translator_->state();
    if (state.usage) answer_.usage = state.usage;
    answer_.generated_chars = state.generated_chars;  // estimates a stream that reported none
    saw_done_ = state.finished;
    upstream_failed_ = state.failed;
    // A binary stream's malformed events are the translator's to find (SSE's are found here).
    malformed_ += state.malformed - translator_malformed_;
    translator_malformed_ = state.malformed;
  }

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
        spdlog::warn("upstream_malformed_event request_id={} endpoint={} bytes={}",
                     a_.labels_.request_id, a_.endpoint_.name, data_.size());
      }
      return;
    } else if (translator_) {
      // Another provider's events, relayed as the OpenAI chunks they mean.
      translator_->on_event(data_, out_);
      if (translator_->native()) out_.append(event);
      take_translated_state();
      return;
    } else if (responses()) {
      // Typed events: the id in the lifecycle ones, usage in the last one; text in deltas.
      ++events_;
      const api::ResponsesReading reading = api::read_responses_event(data_);
      if (!reading.id.empty()) answer_.response_id = reading.stored ? reading.id : std::string();
      if (reading.usage) answer_.usage = reading.usage;
      if (reading.terminal) saw_done_ = true;
      if (reading.failed) upstream_failed_ = true;
      // Text arrives in deltas; the .done events repeat it.
      if (data_.find("\"response.output_text.delta\"") != std::string::npos) {
        answer_.generated_chars += api::generated_chars(event);
      }
    } else if (api::may_carry_usage(data_)) {
      if (auto usage = api::usage_in_document(data_)) answer_.usage = usage;
      // We asked for the usage-only final chunk; a client that did not ask never sees it.
      if (!a_.request_.client_wants_usage && has_empty_choices(data_)) return;
    } else {
      answer_.generated_chars += api::generated_chars(event);
    }
    out_.append(event);
  }

  bool responses() const { return a_.request_.operation == api::Operation::responses; }

  bool fell_over_before_content() const {
    return translator_ && !translator_->native() && translator_->state().failed &&
           !translator_->state().content && a_.reply_.progress() == ClientReply::Progress::nothing;
  }

  // A translated stream cut before its end reported output only up to its first event
  // (Anthropic counts output at the end): what was relayed is estimated instead.
  void estimate_cut_output() {
    if (!translator_ || saw_done_ || !answer_.usage) return;
    const std::int64_t estimate =
        api::estimate_usage(0, translator_->state().generated_chars).output;
    answer_.usage->output = std::max(answer_.usage->output, estimate);
  }

  // A stream cut short ends in-band, in the API's own shape: Chat's `data: {"error": ...}`, or
  // the Responses API's `error` event.
  std::string error_event(const api::ApiError& error) const {
    if (responses()) return api::responses_error_event(error, events_);
    if (a_.request_.operation == api::Operation::messages) {
      return "event: error\ndata: " + error.to_anthropic_json() + "\n\n";
    }
    return "data: " + error.to_json() + "\n\n";
  }

  std::string head() const {
    const ClientReply& reply = a_.reply_;
    return response_head(200, reply.version(), reply.keep_alive() && reply.chunked(),
                         {{"Content-Type", "text/event-stream"},
                          {"Cache-Control", "no-cache"},
                          {"x-fulcrum-request-id", a_.labels_.request_id},
                          {"x-fulcrum-endpoint", a_.endpoint_.name},
                          {"x-fulcrum-route", a_.labels_.route},
                          {"x-fulcrum-reason", a_.labels_.reason},
                          {"x-fulcrum-service-tier", a_.labels_.service_tier},
                          {"x-fulcrum-warning", a_.warning_}},
                         reply.chunked() ? Framing::chunked() : Framing::until_close(),
                         PassedHeaders(parser_.get()).fields());
  }

  void count_malformed() {
    if (malformed_ == 0) return;
    a_.runtime_.metrics().malformed_events(*a_.snapshot_.meters, a_.target_.endpoint, malformed_);
    malformed_ = 0;
  }

  // The client left, but the tokens are spent: the upstream is read on (not relayed) until its
  // usage arrives, within usage_drain_timeout, so the ledger gets the real usage.
  awaitable<AttemptResult> client_left() {
    const TimePoint drain_deadline =
        std::min(a_.deadline_, core::Clock::now() + a_.snapshot_.config.server.usage_drain_timeout);
    // A translated stream's usage grows until its last event (Anthropic's input comes first,
    // its output last).
    const auto metered = [this] { return translator_ ? saw_done_ : answer_.usage.has_value(); };
    while (!metered() && !parser_.is_done() && !upstream_ec_ &&
           core::Clock::now() < drain_deadline) {
      co_await read_events(drain_deadline);
    }
    count_malformed();
    estimate_cut_output();
    connection_.tcp().close();
    // Read on after the client left, the upstream said the response failed: nothing to pin.
    if (upstream_failed_) answer_.response_id.clear();
    answer_.status = 200;
    answer_.outcome = Outcome::client_closed;
    a_.listener_.on_answer(answer_);
    co_return AttemptResult::answered_with(false);
  }

  // The stream's end: complete, or cut after its first byte, which is said in-band with an
  // error event and no [DONE] so no client mistakes the truncated stream for a complete one.
  awaitable<AttemptResult> end() {
    answer_.status = 200;
    estimate_cut_output();
    if (upstream_ec_) {
      connection_.tcp().close();
      const bool timed_out = upstream_ec_ == beast::error::timeout;
      const bool drained = timed_out && core::Clock::now() >= a_.worker_.drain_deadline;
      answer_.outcome = timed_out ? Outcome::timeout : Outcome::upstream_error;
      const auto error =
          drained ? api::ApiError::service_unavailable(
                        "Fulcrum is shutting down and its drain timeout has passed: the stream "
                        "was ended before completion. Retry the request.")
          : timed_out ? api::ApiError::gateway_timeout(
                            "The upstream stream stalled beyond the idle timeout.")
                      : api::ApiError::bad_gateway("The upstream stream was cut.");
      if (drained) spdlog::warn("stream_ended_by_drain request_id={}", a_.labels_.request_id);
      out_ = error_event(error);
    } else {
      answer_.outcome = Outcome::success;
      ++connection_.exchanges;
      a_.reusable_ = parser_.keep_alive();
      if (!a_.reusable_) connection_.tcp().close();
      if (!saw_done_ && (responses() || translator_)) {
        // Ended without its final event: never passed off as complete.
        answer_.outcome = Outcome::upstream_error;
        out_ += error_event(
            api::ApiError::bad_gateway("The upstream stream ended before its final event."));
      } else if (!saw_done_) {
        spdlog::warn("stream_without_done request_id={}", a_.labels_.request_id);
      } else if (upstream_failed_) {
        answer_.outcome = Outcome::upstream_error;  // relayed as sent, counted as it ended
      }
    }
    // The final events and the terminator leave in one write, after metering.
    ClientReply& reply = a_.reply_;
    if (reply.progress() == ClientReply::Progress::nothing) reply.begin_stream(head());
    if (!answer_.first_byte) answer_.first_byte = core::Clock::now();
    a_.listener_.on_answer(answer_);
    const bool delivered = co_await reply.end(out_);
    co_return AttemptResult::answered_with(delivered && !upstream_ec_ && reply.chunked() &&
                                           reply.keep_alive());
  }

  Attempt& a_;
  UpstreamConnection& connection_;
  Parser& parser_;
  std::array<char, kReadChunk> buffer_;
  error_code upstream_ec_;
  api::SseScanner scanner_;
  std::string out_;               // the events of one upstream read, relayed as one chunk
  std::string data_;              // scratch for an event's data payload
  bool saw_done_ = false;         // [DONE], or the Responses API's final event
  unsigned events_ = 0;           // data events relayed (a Responses error event's sequence number)
  bool upstream_failed_ = false;  // the upstream's own response.failed or error event
  std::size_t malformed_ = 0;
  std::size_t translator_malformed_ = 0;  // the translator's count, as added to malformed_
  Answer answer_;
  // Set for a provider whose stream is not OpenAI's (Anthropic's typed events).
  std::unique_ptr<provider::StreamTranslator> translator_;
};

awaitable<AttemptResult> Attempt::relay_stream(UpstreamConnection& connection, Parser& parser) {
  StreamRelay relay(*this, connection, parser);
  co_return co_await relay.run();
}

}  // namespace fulcrum::net
