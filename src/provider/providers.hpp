#pragma once
// The providers behind provider_of(), each declared where the registry can see it.
#include "fulcrum/provider/provider.hpp"

namespace fulcrum::provider {

// openai (any OpenAI-compatible server) and gemini.
class OpenAiCompatible final : public Provider {
 public:
  core::Expected<UpstreamCall, api::ApiError> call(const api::ParsedRequest& request,
                                                   const config::Endpoint& endpoint,
                                                   std::string_view upstream_model,
                                                   std::string_view service_tier) const override;
};

class Azure final : public Provider {
 public:
  core::Expected<UpstreamCall, api::ApiError> call(const api::ParsedRequest& request,
                                                   const config::Endpoint& endpoint,
                                                   std::string_view upstream_model,
                                                   std::string_view service_tier) const override;
  std::vector<Header> auth(const config::Endpoint& endpoint) const override;
  std::string path(const config::Endpoint& endpoint, std::string_view path) const override;
  std::string_view load_header() const override { return "azure-openai-deployment-utilization"; }
};

// Anthropic's Messages API (anthropic_request.cpp, anthropic_answer.cpp).
class Anthropic final : public Provider {
 public:
  core::Expected<UpstreamCall, api::ApiError> call(const api::ParsedRequest& request,
                                                   const config::Endpoint& endpoint,
                                                   std::string_view upstream_model,
                                                   std::string_view service_tier) const override;
  std::vector<Header> auth(const config::Endpoint& endpoint) const override;
  std::string path(const config::Endpoint& endpoint, std::string_view path) const override;
  bool translates(const api::ParsedRequest& request) const override;
  std::optional<core::Usage> answer(const api::ParsedRequest& request,
                                    std::string& body) const override;
  std::unique_ptr<StreamTranslator> stream(const api::ParsedRequest& request) const override;
  UpstreamError error(const api::ParsedRequest& request, unsigned status,
                      std::string body) const override;
};

// AWS Bedrock's Converse API (bedrock_request.cpp, bedrock_answer.cpp): chat through the
// Messages shape into Converse, signed with SigV4 or sent with a Bedrock API key; answers and
// the binary eventstream back through the Messages shape into OpenAI's.
class Bedrock final : public Provider {
 public:
  core::Expected<UpstreamCall, api::ApiError> call(const api::ParsedRequest& request,
                                                   const config::Endpoint& endpoint,
                                                   std::string_view upstream_model,
                                                   std::string_view service_tier) const override;
  bool translates(const api::ParsedRequest& request) const override;
  std::optional<core::Usage> answer(const api::ParsedRequest& request,
                                    std::string& body) const override;
  std::unique_ptr<StreamTranslator> stream(const api::ParsedRequest& request) const override;
  bool falls_over(unsigned status) const override;
  UpstreamError error(const api::ParsedRequest& request, unsigned status,
                      std::string body) const override;
};

}  // namespace fulcrum::provider
