#include "engine_metrics.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace fulcrum::sim {
namespace {

// A label value with the text format's escapes: backslash, double quote, line feed.
std::string escaped(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// A sample value as Python's prometheus_client writes it ("3.0", "0.25"), or as Rust's
// metrics-exporter-prometheus does ("3").
std::string number(double value, bool python) {
  std::array<char, 32> text{};
  const auto end = std::to_chars(text.data(), text.data() + text.size(), value).ptr;
  std::string out(text.data(), end);
  if (python && out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

void gauge(std::string& out, std::string_view name, std::string_view help, std::string_view labels,
           const std::string& value) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" gauge\n");
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(value).append("\n");
}

}  // namespace

std::string engine_exposition(std::string_view engine, const EngineGauges& gauges,
                              std::string_view model_name) {
  std::string out;
  const std::string model = "model_name=\"" + escaped(model_name) + "\"";
  if (engine == "vllm") {
    // vLLM V1 (vllm/v1/metrics/loggers.py), one engine: data-parallel rank 0.
    const std::string labels = "engine=\"0\"," + model;
    gauge(out, "vllm:num_requests_running", "Number of requests in model execution batches.",
          labels, number(gauges.running, true));
    gauge(out, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", labels,
          number(gauges.waiting, true));
    gauge(out, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels,
          number(gauges.kv_cache_usage, true));
  } else if (engine == "sglang") {
    // SGLang's scheduler (python/sglang/srt/metrics/collector.py), one TP and PP rank.
    const std::string labels = "engine_type=\"unified\"," + model + ",pp_rank=\"0\",tp_rank=\"0\"";
    gauge(out, "sglang:num_running_reqs", "The number of running requests.", labels,
          number(gauges.running, true));
    gauge(out, "sglang:num_queue_reqs", "The number of requests in the waiting queue.", labels,
          number(gauges.waiting, true));
    gauge(out, "sglang:token_usage", "The token usage.", labels,
          number(gauges.kv_cache_usage, true));
  } else if (engine == "tgi") {
    // TGI's router (router/src/server.rs); it reports no KV-cache occupancy.
    gauge(out, "tgi_batch_current_size", "Current batch size", {}, number(gauges.running, false));
    out += "\n";
    gauge(out, "tgi_queue_size", "Current queue size", {}, number(gauges.waiting, false));
    out += "\n";
  }
  return out;
}

core::Expected<InjectedLoad, std::string> injected_load_of(std::string_view body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object()) return core::Unexpected{std::string("the body must be a JSON object")};
  InjectedLoad load;
  for (const auto& [key, value] : json.items()) {
    if (key == "fail") {
      if (!value.is_boolean()) return core::Unexpected{std::string("fail must be true or false")};
      load.fail = value.get<bool>();
      continue;
    }
    double* const field = key == "running"          ? &load.running
                          : key == "waiting"        ? &load.waiting
                          : key == "kv_cache_usage" ? &load.kv_cache_usage
                                                    : nullptr;
    if (field == nullptr) {
      return core::Unexpected{"unknown key " + key + " (running, waiting, kv_cache_usage, fail)"};
    }
    const double limit = field == &load.kv_cache_usage ? 1 : HUGE_VAL;
    if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > limit) {
      return core::Unexpected{key + (field == &load.kv_cache_usage
                                         ? " must be a number from 0 to 1"
                                         : " must be a number, 0 or more")};
    }
    *field = value.get<double>();
  }
  return load;
}

}  // namespace fulcrum::sim
