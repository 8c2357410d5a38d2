#include "engine_load.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace fulcrum::net {
namespace {

// The series one format's load is read from; an empty name is one the format does not have.
struct MetricNames {
  std::string_view running;
  std::string_view waiting;
  std::string_view kv_usage;
  std::string_view legacy_kv_usage;  // read only when kv_usage has no sample
};

MetricNames names_of(config::EngineFormat format) {
  switch (format) {
    case config::EngineFormat::vllm:
      // kv_cache_usage_perc is a 0-1 fraction despite its name. gpu_cache_usage_perc is the
      // same gauge under its older name (deprecated by vLLM PR #18354, removed by #29330).
      return {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
              "vllm:gpu_cache_usage_perc"};
    case config::EngineFormat::sglang:
      // token_usage: the fraction of the KV pool's tokens in use. Only the first scheduler of
      // each DP rank reports by default; --enable-metrics-for-all-schedulers would repeat a
      // rank's batch once per TP rank, and the sum would count it that many times.
      return {"sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage", {}};
    case config::EngineFormat::tgi:
      // TGI reports no KV-cache occupancy.
      return {"tgi_batch_current_size", "tgi_queue_size", {}, {}};
  }
  return {};
}

bool blank(char c) { return c == ' ' || c == '\t'; }

void skip_blanks(std::string_view& rest) {
  while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
}

bool take(std::string_view& rest, char c) {
  if (rest.empty() || rest.front() != c) return false;
  rest.remove_prefix(1);
  return true;
}

// Everything before the first of `stops` (or the end of the line), taken off `rest`.
std::string_view take_until(std::string_view& rest, std::string_view stops) {
  const std::string_view token = rest.substr(0, rest.find_first_of(stops));
  rest.remove_prefix(token.size());
  return token;
}

// A double-quoted string at the front of `rest`, as written (escapes `\"`, `\\`, `\n` left in
// place: nothing here needs a label's value, only where it ends); nullopt when unterminated.
std::optional<std::string_view> take_quoted(std::string_view& rest) {
  if (rest.empty() || rest.front() != '"') return std::nullopt;
  for (std::size_t i = 1; i < rest.size(); ++i) {
    if (rest[i] == '\\') {
      ++i;  // the escaped character, a quote included, does not end the string
    } else if (rest[i] == '"') {
      const std::string_view inside = rest.substr(1, i - 1);
      rest.remove_prefix(i + 1);
      return inside;
    }
  }
  return std::nullopt;
}

// A sample value or timestamp as Go's ParseFloat reads it: decimal or exponent notation, NaN,
// Inf, with an optional sign ("+Inf" is how Prometheus writes a histogram's last bucket).
std::optional<double> number(std::string_view text) {
  if (text.size() > 1 && text.front() == '+' && text[1] != '-' && text[1] != '+') {
    text.remove_prefix(1);
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The label set after '{', through its '}': name="value" pairs separated by commas (a trailing
// comma allowed), blanks between tokens. Prometheus 3 may quote a label name, and may write the
// metric's own name inside the braces as a lone quoted string ({"name", label="v"}); then it
// lands in `metric`.
bool take_labels(std::string_view& rest, std::string_view& metric) {
  for (;;) {
    skip_blanks(rest);
    if (take(rest, '}')) return true;
    std::string_view label;
    const bool quoted_label = !rest.empty() && rest.front() == '"';
    if (quoted_label) {
      const auto text = take_quoted(rest);
      if (!text) return false;
      label = *text;
    } else {
      label = take_until(rest, "=,}\" \t");
      if (label.empty()) return false;
    }
    skip_blanks(rest);
    if (take(rest, '=')) {
      skip_blanks(rest);
      if (!take_quoted(rest)) return false;
    } else if (quoted_label && metric.empty()) {
      metric = label;
    } else {
      return false;
    }
    skip_blanks(rest);
    if (take(rest, '}')) return true;
    if (!take(rest, ',')) return false;
  }
}

struct Sample {
  std::string_view name;  // as far as the line could be read; empty when not even that
  double value = 0;
  bool well_formed = false;
};

// One sample line: name, optional label set, value, optional timestamp, and an optional
// OpenMetrics exemplar ("# {...} v") after them; nothing else. Blanks may separate any two
// tokens, as Prometheus's own parser allows.
Sample read_sample(std::string_view rest) {
  Sample sample;
  sample.name = take_until(rest, "{ \t");
  skip_blanks(rest);
  if (take(rest, '{') && !take_labels(rest, sample.name)) return sample;
  if (sample.name.empty()) return sample;
  skip_blanks(rest);
  const auto value = number(take_until(rest, " \t"));
  if (!value) return sample;
  skip_blanks(rest);
  if (!rest.empty() && rest.front() != '#') {
    if (!number(take_until(rest, " \t"))) return sample;  // the timestamp, unused
    skip_blanks(rest);
  }
  if (!rest.empty() && rest.front() != '#') return sample;
  sample.value = *value;
  sample.well_formed = true;
  return sample;
}

// One metric's finite samples: their sum (each clamped at 0) and their maximum.
struct Tally {
  bool seen = false;
  double sum = 0;
  double max = 0;

  void add(double value) {
    if (!std::isfinite(value)) return;
    sum += std::max(value, 0.0);
    max = seen ? std::max(max, value) : value;
    seen = true;
  }
};

}  // namespace

std::optional<EngineLoad> parse_engine_metrics(std::string_view text, config::EngineFormat format) {
  const MetricNames names = names_of(format);
  Tally running, waiting, kv_usage, legacy_kv_usage;
  const auto tally_of = [&](std::string_view name) -> Tally* {
    if (name.empty()) return nullptr;  // never one of the format's absent names
    if (name == names.running) return &running;
    if (name == names.waiting) return &waiting;
    if (name == names.kv_usage) return &kv_usage;
    if (name == names.legacy_kv_usage) return &legacy_kv_usage;
    return nullptr;
  };
  while (!text.empty()) {
    std::string_view line = text.substr(0, text.find('\n'));
    text.remove_prefix(std::min(text.size(), line.size() + 1));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    skip_blanks(line);
    if (line.empty() || line.front() == '#') continue;  // HELP, TYPE, comments, # EOF
    const Sample sample = read_sample(line);
    Tally* const tally = tally_of(sample.name);
    if (tally == nullptr) continue;
    // A series this reads, unreadable: the rest cannot be trusted to be whole either.
    if (!sample.well_formed) return std::nullopt;
    tally->add(sample.value);
  }
  if (!running.seen || !waiting.seen) return std::nullopt;
  EngineLoad load{running.sum, waiting.sum, std::nullopt};
  const Tally& usage = kv_usage.seen ? kv_usage : legacy_kv_usage;
  if (usage.seen) load.kv_cache_usage = std::clamp(usage.max, 0.0, 1.0);
  return load;
}

}  // namespace fulcrum::net
