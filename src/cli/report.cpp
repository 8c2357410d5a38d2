#include <iostream>

#include "commands.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/core/when.hpp"
#include "fulcrum/metering/breakeven.hpp"
#include "fulcrum/report/render.hpp"
#include "ledger_reading.hpp"
#include "output.hpp"

namespace fulcrum::cli {
namespace {

constexpr const char* kUsage =
    "usage: fulcrum report --config FILE [--ledger PATH] [--since WHEN] [--until WHEN]\n"
    "                      [--format text|json|html] [--out FILE]\n"
    "  replays the ledger's traffic against the config's provisioned units and what-if\n"
    "  candidates (default: --since 30d, --until now, --format text, standard output)\n";

}  // namespace

int report(const std::vector<std::string>& args) {
  std::string config_path, ledger_path, format = "text", out_path;
  const std::int64_t now_ms = *core::parse_when("0s");
  std::int64_t since_ms = *core::parse_when("30d");
  std::int64_t until_ms = now_ms;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--config" && has_value) {
      config_path = args[++i];
    } else if (arg == "--ledger" && has_value) {
      ledger_path = args[++i];
    } else if ((arg == "--since" || arg == "--until") && has_value) {
      const auto when = core::parse_when(args[++i]);
      if (!when) {
        std::cerr << "fulcrum report: cannot read " << arg << " '" << args[i] << "' ("
                  << core::kWhenHelp << ")\n";
        return 2;
      }
      (arg == "--since" ? since_ms : until_ms) = *when;
    } else if (arg == "--format" && has_value &&
               (args[i + 1] == "text" || args[i + 1] == "json" || args[i + 1] == "html")) {
      format = args[++i];
    } else if (arg == "--out" && has_value) {
      out_path = args[++i];
    } else {
      std::cerr << "fulcrum report: unexpected '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "fulcrum report: --config is needed (prices and units come from it)\n" << kUsage;
    return 2;
  }
  auto config = config::load_file(config_path);
  if (!config) {
    for (const auto& issue : config.error()) std::cerr << issue.to_string() << "\n";
    return 2;
  }
  metering::TrafficBook book(*config, since_ms, until_ms);
  if (!read_ledger("report", config->ledger, ledger_path, since_ms, until_ms,
                   [&book](const metering::UsageRecord& r) { book.add(r); })) {
    return 1;
  }
  const metering::Report result = book.analyse();
  const std::string text = format == "json"   ? report::report_json(result) + "\n"
                           : format == "html" ? report::report_html(result)
                                              : report::report_text(result);
  return write_result("report", text, out_path);
}

}  // namespace fulcrum::cli
