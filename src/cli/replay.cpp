// fulcrum replay: the recorded traffic run through another policy's router, in simulated time,
// beside what actually happened.
#include "fulcrum/replay/replay.hpp"

#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>

#include "commands.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/core/when.hpp"
#include "fulcrum/report/replay_render.hpp"
#include "ledger_reading.hpp"
#include "output.hpp"

namespace fulcrum::cli {
namespace {

constexpr const char* kUsage =
    "usage: fulcrum replay --config POLICY [--ledger PATH] [--baseline-config FILE]\n"
    "                      [--since WHEN] [--until WHEN] [--format text|json|html] [--out FILE]\n"
    "  runs the ledger's requests through POLICY's router against endpoints modelled from the\n"
    "  same ledger, in simulated time, and prints cost and SLO attainment per class beside what\n"
    "  actually happened. --ledger names a SQLite ledger; without it, the baseline's ledger (or\n"
    "  POLICY's) is read. --baseline-config is the config the ledger was recorded under: it\n"
    "  prices the actual provisioned hours. --from and --to are --since and --until (default:\n"
    "  every row; the period runs from the first arrival to the last answer).\n";

struct Arguments {
  std::string policy_path;
  std::string baseline_path;
  std::string ledger_path;
  std::string format = "text";
  std::string out_path;
  std::optional<std::int64_t> since_ms;
  std::optional<std::int64_t> until_ms;
};

// Exit status 2 with a message when the command line is wrong.
std::optional<int> parse(const std::vector<std::string>& args, Arguments& a) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--config" && has_value) {
      a.policy_path = args[++i];
    } else if (arg == "--baseline-config" && has_value) {
      a.baseline_path = args[++i];
    } else if (arg == "--ledger" && has_value) {
      a.ledger_path = args[++i];
    } else if ((arg == "--since" || arg == "--from" || arg == "--until" || arg == "--to") &&
               has_value) {
      const auto when = core::parse_when(args[++i]);
      if (!when) {
        std::cerr << "fulcrum replay: cannot read " << arg << " '" << args[i] << "' ("
                  << core::kWhenHelp << ")\n";
        return 2;
      }
      (arg == "--since" || arg == "--from" ? a.since_ms : a.until_ms) = *when;
    } else if (arg == "--format" && has_value &&
               (args[i + 1] == "text" || args[i + 1] == "json" || args[i + 1] == "html")) {
      a.format = args[++i];
    } else if (arg == "--out" && has_value) {
      a.out_path = args[++i];
    } else {
      std::cerr << "fulcrum replay: unexpected '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (a.policy_path.empty()) {
    std::cerr << "fulcrum replay: --config is needed (the policy to replay)\n" << kUsage;
    return 2;
  }
  return std::nullopt;
}

std::optional<config::Config> load(const std::string& path) {
  auto config = config::load_file(path);
  if (config) return std::move(*config);
  for (const auto& issue : config.error()) std::cerr << issue.to_string() << "\n";
  std::cerr << "fulcrum replay: " << config.error().size()
            << (config.error().size() == 1 ? " problem" : " problems") << " in " << path << "\n";
  return std::nullopt;
}

}  // namespace

int replay(const std::vector<std::string>& args) {
  Arguments a;
  if (const auto refused = parse(args, a)) return *refused;
  const std::optional<config::Config> policy = load(a.policy_path);
  if (!policy) return 2;
  std::optional<config::Config> baseline;
  if (!a.baseline_path.empty()) {
    baseline = load(a.baseline_path);
    if (!baseline) return 2;
  }
  // The recorded run's ledger: the file named, else the baseline's, else the policy's.
  const config::LedgerConfig& ledger = baseline ? baseline->ledger : policy->ledger;
  const std::string sqlite_path =
      !a.ledger_path.empty() ? a.ledger_path : (ledger.postgres ? "" : ledger.path);
  // Opening a SQLite ledger creates a missing one: an empty replay would hide the typo.
  if (!sqlite_path.empty() && !std::filesystem::exists(sqlite_path)) {
    std::cerr << "fulcrum replay: no ledger at " << sqlite_path << "\n";
    return 1;
  }
  std::vector<replay::RecordedRequest> requests;
  if (!read_ledger("replay", ledger, a.ledger_path, a.since_ms.value_or(0),
                   a.until_ms.value_or(std::numeric_limits<std::int64_t>::max()),
                   [&requests](const metering::UsageRecord& r) {
                     requests.push_back(replay::recorded(r));
                   })) {
    return 1;
  }
  replay::ReplayOptions options;
  options.baseline = baseline ? &*baseline : nullptr;
  options.since_ms = a.since_ms;
  options.until_ms = a.until_ms;
  const replay::Replay result = replay::replay(requests, *policy, options);
  const std::string text = a.format == "json"   ? report::replay_json(result) + "\n"
                           : a.format == "html" ? report::replay_html(result)
                                                : report::replay_text(result);
  return write_result("replay", text, a.out_path);
}

}  // namespace fulcrum::cli
