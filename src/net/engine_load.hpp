#pragma once
// The load a provisioned endpoint's serving engine (vLLM, SGLang, TGI) reports about itself on
// its Prometheus /metrics page. It counts every client of the GPU, other gateways and other
// applications included, which Fulcrum's own counts cannot see.
#include <optional>
#include <string_view>

#include "fulcrum/config/config.hpp"

namespace fulcrum::net {

// What an engine says about its own load, from one scrape.
struct EngineLoad {
  double running = 0;                    // requests in the running batch, every client's
  double waiting = 0;                    // queued at the engine
  std::optional<double> kv_cache_usage;  // 0..1; absent when the format has none (TGI)
};

// Reads the engine's Prometheus text exposition by `format`'s names; nullopt when the names the
// format needs (running and waiting) are absent, or the text is not an exposition.
//
// Running and waiting are summed over the series of their name (vLLM has one per data-parallel
// `engine`, SGLang one per DP rank), each clamped at 0 first; KV usage is the fullest series,
// clamped to [0, 1]. Non-finite samples (NaN, ±Inf) are skipped. A sample line of a name this
// reads that does not parse (a broken label set, a value that is not a number, text after the
// timestamp) makes the whole scrape unbelievable: nullopt, never a partial sum. Lines of other
// names are not looked into beyond their name. No allocation.
std::optional<EngineLoad> parse_engine_metrics(std::string_view text, config::EngineFormat format);

}  // namespace fulcrum::net
