// OpenAI chat completions → Anthropic's Messages API: the request half of provider anthropic
// (the translation itself is messages_request.cpp, shared with bedrock).
#include <nlohmann/json.hpp>

#include "json_access.hpp"
#include "messages_request.hpp"
#include "providers.hpp"

namespace fulcrum::provider {

std::vector<Header> Anthropic::auth(const config::Endpoint& endpoint) const {
  std::vector<Header> out;
  const config::ProviderSettings& p = endpoint.provider;
  if (!endpoint.api_key.empty()) {
    const std::string key(endpoint.api_key.reveal());
    if (p.anthropic_current_generation()) {
      out.push_back({"Authorization", "Bearer " + key});
    } else {
      out.push_back({"x-api-key", key});
    }
  }
  out.push_back({"anthropic-version", p.anthropic_version});
  return out;
}

std::string Anthropic::path(const config::Endpoint&, std::string_view path) const {
  return "/v1" + std::string(path);
}

core::Expected<UpstreamCall, api::ApiError> Anthropic::call(
    const api::ParsedRequest& request, const config::Endpoint& endpoint,
    std::string_view upstream_model, std::string_view /*service_tier*/) const {
  const config::ProviderSettings& settings = endpoint.provider;
  UpstreamCall call;
  call.path = path(endpoint, "/messages");
  call.headers = auth(endpoint);
  if (request.operation == api::Operation::messages) {
    // A client speaking Anthropic's API: its bytes go on, only the model replaced.
    call.body = api::upstream_body(request, upstream_model);
    return call;
  }
  const nlohmann::json in = nlohmann::json::parse(request.body, nullptr, false);
  if (request.operation != api::Operation::chat_completions || !in.is_object()) {
    return core::Unexpected{unsupported_parameter(
        "Provider anthropic serves chat completions with a messages list only.", "")};
  }
  const std::string version = "Anthropic API version " + settings.anthropic_version;
  const MessagesDialect dialect{.provider = "anthropic",
                                .takes_sampling = !settings.anthropic_current_generation(),
                                .reject_unsupported = settings.reject_unsupported,
                                .version = version,
                                .default_max_tokens = settings.default_max_tokens};
  auto translated = to_messages(in, dialect);
  if (!translated) return core::Unexpected{translated.error()};
  nlohmann::json& out = translated->body;
  out["model"] = upstream_model;
  if (request.stream) out["stream"] = true;
  call.body = out.dump();
  call.warning = dropped_warning("anthropic", translated->dropped);
  return call;
}

}  // namespace fulcrum::provider
