// The providers whose wire is OpenAI's: requests go out as the client's bytes (model replaced)
// and answers come back byte for byte. They differ only in paths and authentication.
#include <cctype>

#include "providers.hpp"

namespace fulcrum::provider {
namespace {

// A deployment name as one URL path segment: anything but unreserved characters
// percent-encoded, so no name can change the path or the request line.
std::string path_segment(std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

}  // namespace

core::Expected<UpstreamCall, api::ApiError> OpenAiCompatible::call(
    const api::ParsedRequest& request, const config::Endpoint& endpoint,
    std::string_view upstream_model, std::string_view service_tier) const {
  UpstreamCall out;
  out.path = path(endpoint, api::upstream_path(request.operation));
  out.body = api::upstream_body(request, upstream_model, service_tier);
  out.headers = auth(endpoint);
  return out;
}

// Azure OpenAI. The dated API names the deployment in the path and wants api-version; the
// v1 surface (no api_version configured) is OpenAI's paths under /openai/v1, the deployment
// as the model. Keys go in api-key; Entra ID tokens as a bearer token.
std::vector<Header> Azure::auth(const config::Endpoint& endpoint) const {
  if (endpoint.api_key.empty()) return {};
  if (endpoint.provider.entra_token) return Provider::auth(endpoint);
  return {{"api-key", std::string(endpoint.api_key.reveal())}};
}

std::string Azure::path(const config::Endpoint& endpoint, std::string_view path) const {
  const std::string& version = endpoint.provider.api_version;
  if (version.empty()) return "/openai/v1" + std::string(path);
  const char joint = path.find('?') == std::string_view::npos ? '?' : '&';
  return "/openai" + std::string(path) + joint + "api-version=" + version;
}

core::Expected<UpstreamCall, api::ApiError> Azure::call(const api::ParsedRequest& request,
                                                        const config::Endpoint& endpoint,
                                                        std::string_view upstream_model,
                                                        std::string_view service_tier) const {
  UpstreamCall out;
  const std::string& version = endpoint.provider.api_version;
  const std::string_view operation = api::upstream_path(request.operation);
  // Deployments serve chat, completions and embeddings; Responses has no deployment path.
  if (!version.empty() && request.operation != api::Operation::responses) {
    out.path = "/openai/deployments/" + path_segment(upstream_model) + std::string(operation) +
               "?api-version=" + version;
  } else {
    out.path = path(endpoint, operation);
  }
  out.body = api::upstream_body(request, upstream_model, service_tier);
  out.headers = auth(endpoint);
  return out;
}

}  // namespace fulcrum::provider
