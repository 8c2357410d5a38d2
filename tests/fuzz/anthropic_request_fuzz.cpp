// Fuzz target: a client's chat request, as the gateway accepts it, translated for Anthropic.
// The client controls every byte, so the translation must refuse (a 400 naming the field) or
// produce a JSON body, never throw or crash, and never put a byte the client chose into the
// warning header unless it is a plain field name.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "fulcrum/provider/provider.hpp"

using namespace fulcrum;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  config::Endpoint endpoint;
  endpoint.provider.kind = config::Provider::anthropic;
  endpoint.provider.anthropic_version = (data[0] & 1) ? "2023-06-01" : "2026-10-21";
  endpoint.provider.reject_unsupported = (data[0] & 2) != 0;
  auto request = api::parse_request(api::Operation::chat_completions,
                                    std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (!request) return 0;
  const auto call =
      provider::provider_of(config::Provider::anthropic).call(*request, endpoint, "claude", {});
  if (!call) {
    if (call.error().status != 400) std::abort();
    return 0;
  }
  if (!nlohmann::json::accept(call->body)) std::abort();
  for (char c : call->warning) {
    if (c == '\r' || c == '\n' || static_cast<unsigned char>(c) < 0x20) std::abort();
  }
  return 0;
}
