// OpenAI chat completions → Bedrock's Converse API: the request half of provider bedrock.
// The chat is put in the Messages shape first (messages_request.cpp, as for Anthropic), then
// into Converse's: blocks keyed by kind, inferenceConfig, toolConfig. Requests are signed with
// SigV4, or carry a Bedrock API key as a bearer token.
#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "fulcrum/provider/sigv4.hpp"
#include "json_access.hpp"
#include "messages_request.hpp"
#include "providers.hpp"

namespace fulcrum::provider {
namespace {

using nlohmann::json;

// Converse names an image's format, not its media type, and knows four.
std::optional<std::string> image_format(std::string_view media_type) {
  if (media_type == "image/png") return "png";
  if (media_type == "image/jpeg" || media_type == "image/jpg") return "jpeg";
  if (media_type == "image/gif") return "gif";
  if (media_type == "image/webp") return "webp";
  return std::nullopt;
}

// What InvokeModel wants in an Anthropic body on Bedrock.
constexpr std::string_view kInvokeAnthropicVersion = "bedrock-2023-05-31";

// What an empty tool result becomes.
constexpr std::string_view kEmptyResult = "(empty result)";

// Converse refuses text blocks with no text in them.
bool blank_text(const json& block) {
  return text_of(block, "type") == "text" && text_of(block, "text").empty();
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
      if (blank_text(part)) continue;
      auto converted = converse_block(part, why);
      if (!converted) return std::nullopt;
      content.push_back(std::move(*converted));
    }
    // Converse requires a result's content and refuses blank text: a tool that returned
    // nothing says so in words.
    if (content.empty()) content.push_back({{"text", kEmptyResult}});
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
  if (!text_of(messages, "system").empty()) {
    out["system"] = json::array({{{"text", messages["system"]}}});
  }
  json turns = json::array();
  std::vector<std::string> called;  // the tools the conversation called, in order
  bool tool_blocks = false;
  for (const json& turn : messages["messages"]) {
    json content = json::array();
    for (const json& block : turn["content"]) {
      if (blank_text(block)) continue;
      std::string why;
      auto converted = converse_block(block, why);
      if (!converted) return core::Unexpected{unsupported_parameter(why + ".", "messages")};
      if (converted->contains("toolUse")) {
        const std::string name = text_of(block, "name");
        if (std::find(called.begin(), called.end(), name) == called.end()) called.push_back(name);
      }
      tool_blocks =
          tool_blocks || converted->contains("toolUse") || converted->contains("toolResult");
      content.push_back(std::move(*converted));
    }
    // A turn left empty (its only text was blank) is dropped: Converse refuses empty turns,
    // and turns of one role that come together again are merged, as it wants them alternating.
    if (content.empty()) continue;
    if (!turns.empty() && turns.back()["role"] == turn["role"]) {
      for (json& block : content) turns.back()["content"].push_back(std::move(block));
    } else {
      turns.push_back({{"role", turn["role"]}, {"content", std::move(content)}});
    }
  }
  out["messages"] = std::move(turns);

  json inference = json::object();
  if (messages.contains("max_tokens")) inference["maxTokens"] = messages["max_tokens"];
  if (messages.contains("stop_sequences")) inference["stopSequences"] = messages["stop_sequences"];
  if (messages.contains("temperature")) inference["temperature"] = messages["temperature"];
  if (messages.contains("top_p")) inference["topP"] = messages["top_p"];
  if (!inference.empty()) out["inferenceConfig"] = std::move(inference);

  const json& choice = member(messages, "tool_choice");
  const std::string choice_type = text_of(choice, "type");
  if (choice_type == "none") {
    // Converse cannot forbid tools it is given: none is honoured by giving none, which it
    // refuses when the conversation holds tool calls.
    if (tool_blocks) {
      return core::Unexpected{unsupported_parameter(
          "tool_choice none cannot be honoured by provider bedrock in a conversation that holds "
          "tool calls: Converse needs the tools declared then and cannot forbid them.",
          "tool_choice")};
    }
    messages.erase("tools");
  }
  json tools = json::array();
  if (messages.contains("tools")) {
    for (json& tool : messages["tools"]) {
      json spec = {{"name", std::move(tool["name"])},
                   {"inputSchema", {{"json", std::move(tool["input_schema"])}}}};
      if (tool.contains("description")) spec["description"] = std::move(tool["description"]);
      tools.push_back({{"toolSpec", std::move(spec)}});
    }
  } else if (tool_blocks) {
    // Converse refuses tool calls and results in a conversation that declares no tools (a
    // follow-up sent without them): the tools called are declared, taking any input.
    for (const std::string& name : called) {
      const json any_input = {{"json", {{"type", "object"}}}};
      tools.push_back({{"toolSpec", {{"name", name}, {"inputSchema", any_input}}}});
    }
  }
  if (!tools.empty()) out["toolConfig"] = {{"tools", std::move(tools)}};
  if (choice_type == "auto" || choice_type == "any" || choice_type == "tool") {
    if (!out.contains("toolConfig")) {
      return core::Unexpected{unsupported_parameter("tool_choice needs tools.", "tool_choice")};
    }
    json& config = out["toolConfig"];
    if (choice_type == "auto") config["toolChoice"] = {{"auto", json::object()}};
    if (choice_type == "any") config["toolChoice"] = {{"any", json::object()}};
    if (choice_type == "tool")
      config["toolChoice"] = {{"tool", {{"name", member(choice, "name")}}}};
  }
  if (is_true(choice, "disable_parallel_tool_use")) dropped.emplace_back("parallel_tool_calls");
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

// The call's path, Accept header and authentication, for `action` ("converse", "invoke"...)
// on `model`: the model ID or ARN is one path segment (an ARN's '/' and ':' encoded, and
// encoded again when signed).
core::Expected<UpstreamCall, api::ApiError> addressed(UpstreamCall call,
                                                      const config::Endpoint& endpoint,
                                                      std::string_view model,
                                                      std::string_view action, bool stream) {
  call.path = "/model/" + aws_uri_encode(model, false) + "/" + std::string(action);
  call.accept = stream ? "application/vnd.amazon.eventstream" : "application/json";
  call.headers = bedrock_auth(endpoint, endpoint.base_url.path + call.path, call.body);
  if (call.headers.empty() && endpoint.provider.signs_v4()) {
    return core::Unexpected{api::ApiError::internal("The request to Bedrock could not be signed.")};
  }
  return call;
}

// /v1/messages to a Claude model: Anthropic's own body through InvokeModel, which takes the
// model in the path, no stream flag and its own anthropic_version; the rest as the client
// wrote it, in its order.
core::Expected<UpstreamCall, api::ApiError> invoke_call(const api::ParsedRequest& request,
                                                        const config::Endpoint& endpoint,
                                                        std::string_view upstream_model) {
  // A model ID says whose model it is; an ARN (provisioned, an application profile) does not,
  // and is trusted to be Claude.
  if (!upstream_model.starts_with("arn:") &&
      upstream_model.find("anthropic.") == std::string_view::npos) {
    return core::Unexpected{api::ApiError::invalid_request(
        "Provider bedrock carries /v1/messages to Anthropic models only, not '" +
            std::string(upstream_model) + "'.",
        "model")};
  }
  nlohmann::ordered_json in = nlohmann::ordered_json::parse(request.body, nullptr, false);
  if (!in.is_object()) {
    return core::Unexpected{api::ApiError::invalid_request("The body must be a JSON object.")};
  }
  nlohmann::ordered_json out = {{"anthropic_version", kInvokeAnthropicVersion}};
  for (auto& [key, value] : in.items()) {
    if (key != "model" && key != "stream" && key != "anthropic_version") {
      out[key] = std::move(value);
    }
  }
  UpstreamCall call;
  call.body = out.dump();
  return addressed(std::move(call), endpoint, upstream_model,
                   request.stream ? "invoke-with-response-stream" : "invoke", request.stream);
}

}  // namespace

core::Expected<UpstreamCall, api::ApiError> Bedrock::call(const api::ParsedRequest& request,
                                                          const config::Endpoint& endpoint,
                                                          std::string_view upstream_model,
                                                          std::string_view /*service_tier*/) const {
  if (request.operation == api::Operation::messages) {
    return invoke_call(request, endpoint, upstream_model);
  }
  const json in = request.operation == api::Operation::chat_completions
                      ? json::parse(request.body, nullptr, false)
                      : json();
  if (!in.is_object()) {
    return core::Unexpected{unsupported_parameter(
        "Provider bedrock serves chat completions (Converse) and, for Claude, "
        "/v1/messages (InvokeModel).",
        "")};
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
  call.body = body->dump();
  call.warning = dropped_warning("bedrock", messages->dropped);
  return addressed(std::move(call), endpoint, upstream_model,
                   request.stream ? "converse-stream" : "converse", request.stream);
}

}  // namespace fulcrum::provider
