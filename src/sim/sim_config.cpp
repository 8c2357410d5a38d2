#include "sim_config.hpp"

#include <yaml-cpp/yaml.h>

#include <set>

namespace fulcrum::sim {
namespace {

core::Duration duration_of(const YAML::Node& node, const std::string& key) {
  const auto parsed = core::parse_duration(node.as<std::string>());
  if (!parsed) throw std::runtime_error(key + ": not a duration: " + node.as<std::string>());
  return *parsed;
}

}  // namespace

core::Expected<SimConfig, std::string> load_sim_config(const std::string& path) {
  // fulcrum-sim is a test tool: a simple reader that names the bad key is enough.
  static const std::set<std::string> kKeys = {"listen",
                                              "prefix",
                                              "ttft",
                                              "tokens_per_second",
                                              "max_concurrency",
                                              "cold_start",
                                              "cold_after_idle",
                                              "completion_tokens",
                                              "cached_tokens",
                                              "cache_write_tokens",
                                              "wire",
                                              "error_after_chunks",
                                              "embedding_dimensions",
                                              "api_key",
                                              "aws_access_key_id",
                                              "aws_secret_access_key",
                                              "aws_region",
                                              "utilization",
                                              "stream_exception",
                                              "bad_crc_after_chunks",
                                              "error_type",
                                              "fail_status",
                                              "fail_first",
                                              "fail_first_status",
                                              "rate_429",
                                              "retry_after",
                                              "code_429",
                                              "flex_429",
                                              "flex_ttft",
                                              "fail_delay",
                                              "cut_after_chunks",
                                              "failed_after_chunks",
                                              "stall_after_chunks",
                                              "bad_chunk_after_chunks",
                                              "reset_before_headers",
                                              "reset_every",
                                              "fail_every",
                                              "fail_every_status",
                                              "stall_every",
                                              "malformed_after_chunks",
                                              "idle_close",
                                              "hold",
                                              "engine_metrics",
                                              "fail_metrics"};
  try {
    const YAML::Node root = YAML::LoadFile(path);
    SimConfig config;
    for (const auto& entry : root["endpoints"]) {
      SimEndpoint e;
      e.name = entry.first.as<std::string>();
      const YAML::Node& n = entry.second;
      for (const auto& field : n) {
        if (!kKeys.count(field.first.as<std::string>())) {
          return core::Unexpected{path + ": endpoint " + e.name + ": unknown key " +
                                  field.first.as<std::string>()};
        }
      }
      if (n["listen"]) {
        const auto hp = core::parse_host_port(n["listen"].as<std::string>());
        if (!hp) return core::Unexpected{path + ": endpoint " + e.name + ": bad listen"};
        e.listen = *hp;
      }
      if (n["prefix"]) e.prefix = n["prefix"].as<std::string>();
      if (n["ttft"]) e.ttft = duration_of(n["ttft"], "ttft");
      if (n["tokens_per_second"]) e.tokens_per_second = n["tokens_per_second"].as<double>();
      if (n["max_concurrency"]) e.max_concurrency = n["max_concurrency"].as<unsigned>();
      if (n["cold_start"]) e.cold_start = duration_of(n["cold_start"], "cold_start");
      if (n["cold_after_idle"])
        e.cold_after_idle = duration_of(n["cold_after_idle"], "cold_after_idle");
      if (n["completion_tokens"]) e.completion_tokens = n["completion_tokens"].as<unsigned>();
      if (n["cached_tokens"]) e.cached_tokens = n["cached_tokens"].as<unsigned>();
      if (n["cache_write_tokens"]) e.cache_write_tokens = n["cache_write_tokens"].as<unsigned>();
      if (n["error_after_chunks"]) e.error_after_chunks = n["error_after_chunks"].as<int>();
      if (n["wire"]) {
        e.wire = n["wire"].as<std::string>();
        if (e.wire != "openai" && e.wire != "azure" && e.wire != "gemini" &&
            e.wire != "anthropic" && e.wire != "bedrock") {
          throw std::runtime_error("wire must be openai, azure, gemini, anthropic or bedrock");
        }
      }
      if (n["embedding_dimensions"])
        e.embedding_dimensions = n["embedding_dimensions"].as<unsigned>();
      if (n["api_key"]) e.api_key = n["api_key"].as<std::string>();
      if (n["aws_access_key_id"]) e.aws_access_key_id = n["aws_access_key_id"].as<std::string>();
      if (n["aws_secret_access_key"]) {
        e.aws_secret_access_key = n["aws_secret_access_key"].as<std::string>();
      }
      if (n["aws_region"]) e.aws_region = n["aws_region"].as<std::string>();
      if (n["utilization"]) e.utilization = n["utilization"].as<std::string>();
      if (n["stream_exception"]) e.stream_exception = n["stream_exception"].as<std::string>();
      if (n["bad_crc_after_chunks"]) e.bad_crc_after_chunks = n["bad_crc_after_chunks"].as<int>();
      if (n["error_type"]) e.error_type = n["error_type"].as<std::string>();
      if (n["fail_status"]) e.fail_status = n["fail_status"].as<unsigned>();
      if (n["fail_first"]) e.fail_first = n["fail_first"].as<unsigned>();
      if (n["fail_first_status"]) e.fail_first_status = n["fail_first_status"].as<unsigned>();
      if (n["rate_429"]) e.rate_429 = n["rate_429"].as<double>();
      if (n["retry_after"]) e.retry_after = n["retry_after"].as<unsigned>();
      if (n["code_429"]) e.code_429 = n["code_429"].as<std::string>();
      if (n["flex_429"]) e.flex_429 = n["flex_429"].as<bool>();
      if (n["flex_ttft"]) e.flex_ttft = duration_of(n["flex_ttft"], "flex_ttft");
      if (n["fail_delay"]) e.fail_delay = duration_of(n["fail_delay"], "fail_delay");
      if (n["cut_after_chunks"]) e.cut_after_chunks = n["cut_after_chunks"].as<int>();
      if (n["failed_after_chunks"]) e.failed_after_chunks = n["failed_after_chunks"].as<int>();
      if (n["stall_after_chunks"]) e.stall_after_chunks = n["stall_after_chunks"].as<int>();
      if (n["bad_chunk_after_chunks"]) {
        e.bad_chunk_after_chunks = n["bad_chunk_after_chunks"].as<int>();
      }
      if (n["reset_before_headers"]) e.reset_before_headers = n["reset_before_headers"].as<bool>();
      if (n["reset_every"]) e.reset_every = n["reset_every"].as<unsigned>();
      if (n["fail_every"]) e.fail_every = n["fail_every"].as<unsigned>();
      if (n["fail_every_status"]) e.fail_every_status = n["fail_every_status"].as<unsigned>();
      if (n["stall_every"]) e.stall_every = n["stall_every"].as<unsigned>();
      if (n["malformed_after_chunks"]) {
        e.malformed_after_chunks = n["malformed_after_chunks"].as<int>();
      }
      if (n["idle_close"]) e.idle_close = duration_of(n["idle_close"], "idle_close");
      if (n["hold"]) e.hold = n["hold"].as<bool>();
      if (n["engine_metrics"]) {
        e.engine_metrics = n["engine_metrics"].as<std::string>();
        if (e.engine_metrics != "vllm" && e.engine_metrics != "sglang" &&
            e.engine_metrics != "tgi") {
          throw std::runtime_error("engine_metrics must be vllm, sglang or tgi");
        }
      }
      if (n["fail_metrics"]) e.fail_metrics = n["fail_metrics"].as<bool>();
      if (e.fail_metrics && e.engine_metrics.empty()) {
        return core::Unexpected{
            path + ": endpoint " + e.name +
            ": fail_metrics needs engine_metrics (there is no /metrics to fail)"};
      }
      if (!e.utilization.empty() && e.wire != "azure") {
        return core::Unexpected{
            path + ": endpoint " + e.name +
            ": utilization is only for wire: azure (Azure's deployment utilization header)"};
      }
      config.endpoints.push_back(std::move(e));
    }
    if (config.endpoints.empty()) return core::Unexpected{path + ": no endpoints"};
    return config;
  } catch (const std::exception& e) {
    return core::Unexpected{path + ": " + e.what()};
  }
}

}  // namespace fulcrum::sim
