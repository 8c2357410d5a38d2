// OpenAI chat completions → Bedrock's Converse API: the request half of provider bedrock.
// The chat is put in the Messages shape first (messages_request.cpp, as for Anthropic), then
// into Converse's: blocks keyed by kind, inferenceConfig, toolConfig. Requests are signed with
// SigV4, or carry a Bedrock API key as a bearer token.
#include <chrono>
#include <nlohmann/json.hpp>

#include "fulcrum/provider/sigv4.hpp"
#include "json_access.hpp"
#include "messages_request.hpp"
#include "providers.hpp"

namespace fulcrum::provider {
namespace {

using nlohmann::json;

api::ApiError unsupported(std::string message, std::string param) {
  return api::ApiError::invalid_request(std::move(message), std::move(param),
                                        "unsupported_parameter");
}

// Converse names an image's format, not its media type, and knows four.
std::optional<std::string> image_format(std::string_view media_type) {
  if (media_type == "image/png") return "png";
  if (media_type == "image/jpeg" || media_type == "image/jpg") return "jpeg";
  if (media_type == "image/gif") return "gif";
  if (media_type == "image/webp") return "webp";
  return std::nullopt;
}

// One Messages content block as Converse's; nullopt (with `why` set) when Converse cannot
// carry it.
std::optional<json> converse_block(const json& block, std::string& why) {
  const std::string type = text_of(block, "type");
  if (type == "text") return json{{"text", member(block, "text")}};
  if (type == "image") {
    const json& source = member(block, "source");
    if (text_of(source, "type") != "base64") {
      why = "provider bedrock takes images as base64 data: URLs only (Converse cannot fetch a URL)";
      return std::nullopt;
    }
    const auto format = image_format(text_of(source, "media_type"));
    if (!format) {
      why = "provider bedrock takes png, jpeg, gif and webp images only";
      return std::nullopt;
    }
    return json{{"image", {{"format", *format}, {"source", {{"bytes", member(source, "data")}}}}}};
  }
  if (type == "tool_use") {
    return json{{"toolUse",
                 {{"toolUseId", member(block, "id")},
                  {"name", member(block, "name")},
                  {"input", member(block, "input")}}}};
  }
  if (type == "tool_result") {
    json content = json::array();
    for (const json& part : member(block, "content")) {
      auto converted = converse_block(part, why);
      if (!converted) return std::nullopt;
      content.push_back(std::move(*converted));
    }
    // Converse requires a result's content; a tool that returned nothing returned "".
    if (content.empty()) content.push_back({{"text", ""}});
    return json{{"toolResult",
                 {{"toolUseId", member(block, "tool_use_id")}, {"content", std::move(content)}}}};
  }
  why = "content of type '" + type + "' has no Converse equivalent";
  return std::nullopt;
}

// The Messages body as Converse's. What only Anthropic has is dropped and named.
core::Expected<json, api::ApiError> converse_body(json messages,
                                                  std::vector<std::string>& dropped) {
  json out = json::object();
  if (messages.contains("system")) out["system"] = json::array({{{"text", messages["system"]}}});
  json turns = json::array();
  for (const json& turn : messages["messages"]) {
    json content = json::array();
    for (const json& block : turn["content"]) {
      std::string why;
      auto converted = converse_block(block, why);
      if (!converted) return core::Unexpected{unsupported(why + ".", "messages")};
      content.push_back(std::move(*converted));
    }
    turns.push_back({{"role", turn["role"]}, {"content", std::move(content)}});
  }
  out["messages"] = std::move(turns);

  json inference = {{"maxTokens", messages["max_tokens"]}};
  if (messages.contains("stop_sequences")) inference["stopSequences"] = messages["stop_sequences"];
  if (messages.contains("temperature")) inference["temperature"] = messages["temperature"];
  if (messages.contains("top_p")) inference["topP"] = messages["top_p"];
  out["inferenceConfig"] = std::move(inference);

  if (messages.contains("tools")) {
    json tools = json::array();
    for (json& tool : messages["tools"]) {
      json spec = {{"name", std::move(tool["name"])},
                   {"inputSchema", {{"json", std::move(tool["input_schema"])}}}};
      if (tool.contains("description")) spec["description"] = std::move(tool["description"]);
      tools.push_back({{"toolSpec", std::move(spec)}});
    }
    out["toolConfig"] = {{"tools", std::move(tools)}};
  }
  if (messages.contains("tool_choice")) {
    const json& choice = messages["tool_choice"];
    const std::string type = text_of(choice, "type");
    if (type == "none") {
      return core::Unexpected{
          unsupported("tool_choice none has no Converse equivalent: send the request without "
                      "tools instead.",
                      "tool_choice")};
    }
    if (!out.contains("toolConfig")) {
      return core::Unexpected{unsupported("tool_choice needs tools.", "tool_choice")};
    }
    if (type == "auto") out["toolConfig"]["toolChoice"] = {{"auto", json::object()}};
    if (type == "any") out["toolConfig"]["toolChoice"] = {{"any", json::object()}};
    if (type == "tool") {
      out["toolConfig"]["toolChoice"] = {{"tool", {{"name", member(choice, "name")}}}};
    }
    if (is_true(choice, "disable_parallel_tool_use")) dropped.emplace_back("parallel_tool_calls");
  }
  if (messages.contains("metadata")) dropped.emplace_back("user");
  return out;
}

std::vector<Header> bedrock_auth(const config::Endpoint& endpoint, std::string_view wire_path,
                                 std::string_view body) {
  const config::ProviderSettings& p = endpoint.provider;
  if (!p.signs_v4()) {
    if (endpoint.api_key.empty()) return {};
    return {{"Authorization", "Bearer " + std::string(endpoint.api_key.reveal())}};
  }
  const std::string host = endpoint.base_url.host_header();
  SigV4Request request;
  request.method = "POST";
  request.host = host;
  request.path = wire_path;
  // Signed as sent: upstream_head() writes this Content-Type on every request.
  request.headers = {{"content-type", "application/json"}};
  request.payload = body;
  request.region = p.aws_region;
  request.service = "bedrock";
  request.time = std::chrono::system_clock::now();
  request.credentials = {std::string(p.aws_access_key_id.reveal()),
                         std::string(p.aws_secret_access_key.reveal()),
                         std::string(p.aws_session_token.reveal())};
  auto signature = sign_v4(request);
  if (!signature) return {};
  std::vector<Header> out;
  for (HttpHeader& header : signature->headers) {
    out.push_back({std::move(header.name), std::move(header.value)});
  }
  return out;
}

}  // namespace

core::Expected<UpstreamCall, api::ApiError> Bedrock::call(const api::ParsedRequest& request,
                                                          const config::Endpoint& endpoint,
                                                          std::string_view upstream_model) const {
  const json in = request.operation == api::Operation::chat_completions
                      ? json::parse(request.body, nullptr, false)
                      : json();
  if (!in.is_object()) {
    return core::Unexpected{
        unsupported("Provider bedrock serves chat completions (Converse) only.", "")};
  }
  const MessagesDialect dialect{.provider = "bedrock",
                                .takes_sampling = true,
                                .reject_unsupported = false,
                                .version = {},
                                .default_max_tokens = endpoint.provider.default_max_tokens};
  auto messages = to_messages(in, dialect);
  if (!messages) return core::Unexpected{messages.error()};
  auto body = converse_body(std::move(messages->body), messages->dropped);
  if (!body) return core::Unexpected{body.error()};

  UpstreamCall call;
  // The model ID or ARN is one path segment: an ARN's '/' and ':' are encoded (and encoded
  // again when signed).
  call.path = "/model/" + aws_uri_encode(upstream_model, false) +
              (request.stream ? "/converse-stream" : "/converse");
  call.accept = request.stream ? "application/vnd.amazon.eventstream" : "application/json";
  call.body = body->dump();
  call.headers = bedrock_auth(endpoint, endpoint.base_url.path + call.path, call.body);
  if (call.headers.empty() && endpoint.provider.signs_v4()) {
    return core::Unexpected{api::ApiError::internal("The request to Bedrock could not be signed.")};
  }
  call.warning = dropped_warning("bedrock", messages->dropped);
  return call;
}

}  // namespace fulcrum::provider
