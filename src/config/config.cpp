// The snapshot's own methods: lookups and the names its enums print as.
#include "fulcrum/config/config.hpp"

namespace fulcrum::config {

const char* to_string(EndpointKind kind) {
  return kind == EndpointKind::provisioned ? "provisioned" : "serverless";
}

const char* to_string(Provider provider) {
  switch (provider) {
    case Provider::openai:
      return "openai";
    case Provider::azure:
      return "azure";
    case Provider::gemini:
      return "gemini";
    case Provider::anthropic:
      return "anthropic";
    case Provider::bedrock:
      return "bedrock";
  }
  return "unknown";
}

const char* to_string(Api api) {
  switch (api) {
    case Api::chat:
      return "chat";
    case Api::completions:
      return "completions";
    case Api::embeddings:
      return "embeddings";
    case Api::responses:
      return "responses";
    case Api::messages:
      return "messages";
  }
  return "unknown";
}

const char* to_string(Strategy strategy) {
  switch (strategy) {
    case Strategy::cheapest_meeting_slo:
      return "cheapest_meeting_slo";
    case Strategy::lowest_latency:
      return "lowest_latency";
    case Strategy::weighted:
      return "weighted";
    case Strategy::ordered:
      return "ordered";
  }
  return "unknown";
}

Timeouts Timeouts::with(const TimeoutOverrides& overrides) const {
  Timeouts out = *this;
  if (overrides.connect) out.connect = *overrides.connect;
  if (overrides.first_byte) out.first_byte = *overrides.first_byte;
  if (overrides.idle) out.idle = *overrides.idle;
  if (overrides.total) out.total = *overrides.total;
  return out;
}

const ModelAlias* Config::find_alias(std::string_view name) const {
  const auto it = alias_index_.find(std::string(name));
  return it == alias_index_.end() ? nullptr : &models[it->second];
}

std::optional<std::size_t> Config::find_slo_class(std::string_view name) const {
  for (std::size_t i = 0; i < slo_classes.size(); ++i) {
    if (slo_classes[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Config::find_endpoint(std::string_view name) const {
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (endpoints[i].name == name) return i;
  }
  return std::nullopt;
}

}  // namespace fulcrum::config
