// Fuzz target: an upstream's event stream, split at a point the input chooses, through the
// SSE scanner and everything the relay does with each event.
#include <cstdint>
#include <string>
#include <string_view>

#include "fulcrum/api/sse_scanner.hpp"
#include "fulcrum/api/usage.hpp"

using namespace fulcrum;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);
  api::SseScanner scanner;
  std::string payload;
  const auto on_event = [&payload](std::string_view event) {
    payload.clear();
    if (api::sse_data(event, payload)) {
      (void)api::usage_in_document(payload);
      (void)api::may_carry_usage(payload);
    }
    (void)api::generated_chars(event);
  };
  scanner.feed(bytes.substr(0, split), on_event);
  scanner.feed(bytes.substr(split), on_event);
  (void)scanner.remainder();
  return 0;
}
