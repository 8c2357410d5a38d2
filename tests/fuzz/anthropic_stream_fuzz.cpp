// Fuzz target: an Anthropic event stream (or message, or error body) as an upstream might
// send it, cut at points the input chooses, through the SSE scanner and the Anthropic
// translator. Whatever arrives, the client's stream holds only JSON events (and [DONE] only
// when the message ended), and usage stays one consistent record.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/provider/provider.hpp"

using namespace fulcrum;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_usage(const core::Usage& u) {
  check(u.input >= 0 && u.cached_input >= 0 && u.cache_write >= 0 && u.output >= 0);
  check(u.input >= u.cached_input + u.cache_write);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  api::ParsedRequest request;
  request.client_wants_usage = (data[1] & 1) != 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  const provider::Provider& anthropic = provider::provider_of(config::Provider::anthropic);

  const auto translator = anthropic.stream(request);
  std::string out;
  std::string payload;
  api::SseScanner scanner;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    scanner.feed(bytes.substr(at, piece), [&](std::string_view event) {
      payload.clear();
      if (api::sse_data(event, payload)) translator->on_event(payload, out);
    });
  }
  const provider::StreamState& state = translator->state();
  if (state.usage) check_usage(*state.usage);
  bool done = false;
  std::size_t at = 0;
  while ((at = out.find("data: ", at)) != std::string::npos) {
    const std::size_t end = out.find("\n\n", at);
    check(end != std::string::npos);
    const std::string_view event(out.data() + at + 6, end - at - 6);
    check(!done);  // nothing after [DONE]
    if (event == "[DONE]") {
      done = true;
    } else {
      check(nlohmann::json::accept(event));
    }
    at = end;
  }
  check(done == (state.finished && !state.failed));

  std::string body(bytes);
  if (const auto usage = anthropic.answer(request, body)) check_usage(*usage);
  check(nlohmann::json::accept(anthropic.error(request, 400, std::string(bytes)).body));
  return 0;
}
