// Fuzz target: a Bedrock stream as an upstream might send it, through the Bedrock translator:
// ConverseStream for a chat client, or InvokeModelWithResponseStream (Anthropic events in
// base64 chunks) for a /v1/messages client. Input: byte 0 picks the API and the cut size;
// with its top bit clear the rest is raw bytes (framing and CRCs as they come), with it set
// the rest is lines "event-type payload" (a type starting with '!' is an exception; a chunk's
// payload is base64-encoded here) framed with real CRCs, so mutations reach the translation.
// Whatever arrives, the client gets only well-formed events, [DONE] last, and one usage.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fulcrum/core/base64.hpp"
#include "fulcrum/provider/eventstream.hpp"
#include "fulcrum/provider/provider.hpp"

using namespace fulcrum;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// "contentBlockDelta {...}" lines as frames.
std::string frames_of(std::string_view lines) {
  std::string out;
  while (!lines.empty()) {
    const std::size_t end = std::min(lines.find('\n'), lines.size());
    const std::string_view line = lines.substr(0, end);
    lines.remove_prefix(std::min(end + 1, lines.size()));
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0) continue;
    std::string type(line.substr(0, space));
    std::string payload(line.substr(space + 1));
    std::vector<provider::EventStreamHeader> headers;
    if (type[0] == '!') {
      headers = {{":exception-type", type.substr(1)}, {":message-type", "exception"}};
    } else {
      if (type == "chunk") payload = R"({"bytes":")" + core::base64_encode(payload) + R"("})";
      headers = {{":event-type", type}, {":message-type", "event"}};
    }
    if (auto frame = provider::encode_event(headers, payload)) out += *frame;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool invoke = (data[0] & 0x40) != 0;
  const std::size_t piece = 1 + data[0] % 64;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string bytes = (data[0] & 0x80) != 0 ? frames_of(rest) : std::string(rest);

  api::ParsedRequest request;
  request.operation = invoke ? api::Operation::messages : api::Operation::chat_completions;
  request.client_wants_usage = true;
  const provider::Provider& bedrock = provider::provider_of(config::Provider::bedrock);
  const auto translator = bedrock.stream(request);
  check(translator && translator->binary());
  std::string out;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    translator->on_bytes(std::string_view(bytes).substr(at, piece), out);
  }
  const provider::StreamState& state = translator->state();
  if (state.usage) {
    const core::Usage& u = *state.usage;
    check(u.input >= 0 && u.cached_input >= 0 && u.cache_write >= 0 && u.output >= 0);
    check(u.input >= u.cached_input + u.cache_write);
  }
  check(!state.failed || state.finished);
  // Event by event as a client's SSE parser splits them: blank-line separated, each with one
  // data line of JSON (or [DONE]) and, for Anthropic's, an event line before it.
  bool done = false;
  std::size_t at = 0;
  while (at < out.size()) {
    const std::size_t end = out.find("\n\n", at);
    check(end != std::string::npos);
    std::string_view event(out.data() + at, end - at);
    at = end + 2;
    if (invoke) {
      check(event.starts_with("event: "));
      check(!done);  // nothing after message_stop or an error
      done = event.starts_with("event: message_stop\n") || event.starts_with("event: error\n");
      const std::size_t line = event.find('\n');
      check(line != std::string_view::npos);
      event.remove_prefix(line + 1);
    }
    check(event.starts_with("data: "));
    event.remove_prefix(6);
    check(event.find('\n') == std::string_view::npos);
    if (!invoke) check(!done);  // nothing after [DONE]
    if (event == "[DONE]") {
      check(!invoke);
      done = true;
    } else {
      check(nlohmann::json::accept(event));
    }
  }
  check(invoke ? done == state.finished : done == (state.finished && !state.failed));
  return 0;
}
