// Anthropic's Messages API → OpenAI chat completions: the answer half of provider anthropic
// (the Messages shape's reading itself is messages_answer.cpp, shared with bedrock).
#include <nlohmann/json.hpp>

#include "json_access.hpp"
#include "messages_answer.hpp"
#include "providers.hpp"

namespace fulcrum::provider {

using nlohmann::json;

bool Anthropic::translates(const api::ParsedRequest& request) const {
  return request.operation != api::Operation::messages;
}

std::optional<core::Usage> Anthropic::answer(const api::ParsedRequest& request,
                                             std::string& body) const {
  if (!translates(request)) return messages_usage_of(body);  // relayed as Anthropic sent it
  if (!shallow(body)) return std::nullopt;  // left as it is: nlohmann's dump would recurse
  const json message = json::parse(body, nullptr, false);
  if (!message.is_object()) return std::nullopt;
  return chat_completion_of(message, request.model, body);
}

std::unique_ptr<StreamTranslator> Anthropic::stream(const api::ParsedRequest& request) const {
  return std::make_unique<MessagesStream>(!translates(request), request.client_wants_usage);
}

// {"type":"error","error":{"type","message","details"}} → OpenAI's {"error":{...}}. A tier's
// spend cap is a 429 like a rate limit, told apart only by details.error_code.
UpstreamError Anthropic::error(const api::ParsedRequest& request, unsigned,
                               std::string body) const {
  const json parsed = json::parse(body, nullptr, false);
  const json& error = parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()
                          ? parsed["error"]
                          : json();
  UpstreamError out;
  const json& details = error.is_object() && error.contains("details") ? error["details"] : json();
  out.exhausted =
      details.is_object() && text_of(details, "error_code") == "enforced_spend_limit_reached";
  if (!translates(request)) {
    out.body = std::move(body);  // a /v1/messages client reads Anthropic's own error
    return out;
  }
  std::string message = error.is_object() ? text_of(error, "message") : std::string();
  if (message.empty()) message = "The upstream (provider anthropic) refused the request.";
  out.body = openai_error_body(error.is_object() ? text_of(error, "type") : "", std::move(message),
                               out.exhausted);
  return out;
}

}  // namespace fulcrum::provider
