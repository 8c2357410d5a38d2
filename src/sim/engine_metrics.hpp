#pragma once
// The /metrics page of the serving engine a simulated endpoint plays (vLLM, SGLang or TGI):
// its load in that engine's Prometheus names, labels and number style, so a gateway's scraper
// reads the sim as it would read the engine.
#include <optional>
#include <string>
#include <string_view>

#include "fulcrum/core/expected.hpp"

namespace fulcrum::sim {

// What an engine's three load gauges say.
struct EngineGauges {
  double running = 0;         // generating now
  double waiting = 0;         // queued
  double kv_cache_usage = 0;  // 0..1 (TGI has no such gauge)
};

// The Prometheus text exposition (format 0.0.4) of `gauges`, as `engine` ("vllm", "sglang" or
// "tgi") writes it: HELP and TYPE per family; vLLM V1's labels {engine, model_name} and
// SGLang's {engine_type, model_name, pp_rank, tp_rank}, sorted as prometheus_client sorts them,
// floats as Python writes them ("3.0"); TGI unlabelled, integers bare, a blank line after each
// family, as Rust's metrics-exporter-prometheus writes them.
std::string engine_exposition(std::string_view engine, const EngineGauges& gauges,
                              std::string_view model_name);

// Load a test injects on top of an endpoint's own (POST <prefix>/sim/engine_load), as other
// clients of the same GPU would add it; `fail` overrides the endpoint's fail_metrics.
struct InjectedLoad {
  double running = 0;
  double waiting = 0;
  double kv_cache_usage = 0;
  std::optional<bool> fail;
};

// The JSON body {"running": N, "waiting": M, "kv_cache_usage": F, "fail": B}, every key
// optional ({} clears everything), or why it is refused: not an object, an unknown key, a
// count that is not a number >= 0, a usage outside [0, 1], a fail that is not a boolean.
core::Expected<InjectedLoad, std::string> injected_load_of(std::string_view body);

}  // namespace fulcrum::sim
