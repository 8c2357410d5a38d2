// What every provider shares: OpenAI's wire as the default, and the registry.
#include "fulcrum/api/usage.hpp"
#include "providers.hpp"

namespace fulcrum::provider {

std::vector<Header> Provider::auth(const config::Endpoint& endpoint) const {
  if (endpoint.api_key.empty()) return {};
  return {{"Authorization", "Bearer " + std::string(endpoint.api_key.reveal())}};
}

std::string Provider::path(const config::Endpoint&, std::string_view path) const {
  return std::string(path);
}

bool Provider::translates(const api::ParsedRequest&) const { return false; }

std::optional<core::Usage> Provider::answer(const api::ParsedRequest&, std::string& body) const {
  return api::usage_in_document(body);
}

std::unique_ptr<StreamTranslator> Provider::stream(const api::ParsedRequest&) const {
  return nullptr;
}

// OpenAI's own shape already; only its quota error means "not before the quota resets".
UpstreamError Provider::error(const api::ParsedRequest&, unsigned, std::string body) const {
  const bool exhausted = body.find("\"insufficient_quota\"") != std::string::npos;
  return {std::move(body), exhausted};
}

// SSE streams never come here: the relay splits them into events.
void StreamTranslator::on_bytes(std::string_view, std::string&) {}

const Provider& provider_of(config::Provider kind) {
  static const OpenAiCompatible openai;
  static const Azure azure;
  static const Anthropic anthropic;
  static const Bedrock bedrock;
  switch (kind) {
    case config::Provider::bedrock:
      return bedrock;
    case config::Provider::azure:
      return azure;
    case config::Provider::anthropic:
      return anthropic;
    case config::Provider::openai:
    case config::Provider::gemini:  // Google's OpenAI-compatible endpoint
      break;
  }
  return openai;
}

}  // namespace fulcrum::provider
