#include <iostream>
#include <optional>

#include "commands.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/core/when.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::cli {
namespace {

constexpr const char* kUsage =
    "usage: fulcrum ledger export [--config FILE | --ledger PATH] [--since WHEN] "
    "[--format csv|jsonl]\n"
    "  --config reads the ledger the config names (ledger.postgres, else ledger.path);\n"
    "  --ledger reads a SQLite ledger file\n"
    "  WHEN: 2026-11-01, 2026-11-01T08:00:00Z, or a duration ago such as 24h or 30d (default: "
    "everything)\n";

}  // namespace

int ledger_export(const std::vector<std::string>& args) {
  std::string config_path;
  std::string ledger_path;
  std::int64_t since_ms = 0;
  metering::ExportFormat format = metering::ExportFormat::csv;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--config" && has_value) {
      config_path = args[++i];
    } else if (arg == "--ledger" && has_value) {
      ledger_path = args[++i];
    } else if (arg == "--since" && has_value) {
      const auto since = core::parse_when(args[++i]);
      if (!since) {
        std::cerr << "fulcrum ledger export: cannot read --since '" << args[i] << "'\n" << kUsage;
        return 2;
      }
      since_ms = *since;
    } else if (arg == "--format" && has_value && (args[i + 1] == "csv" || args[i + 1] == "jsonl")) {
      format = args[++i] == "csv" ? metering::ExportFormat::csv : metering::ExportFormat::jsonl;
    } else {
      std::cerr << "fulcrum ledger export: unexpected '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  // --ledger names a SQLite file; --config the config's ledger, PostgreSQL's included.
  config::LedgerConfig ledger_config;
  if (ledger_path.empty() && !config_path.empty()) {
    auto config = config::load_file(config_path);
    if (!config) {
      for (const auto& issue : config.error()) std::cerr << issue.to_string() << "\n";
      return 2;
    }
    ledger_config = config->ledger;
  }
  auto ledger = metering::open_ledger_reader(ledger_config, ledger_path);
  if (!ledger) {
    std::cerr << "fulcrum ledger export: " << ledger.error() << "\n";
    return 1;
  }
  const std::size_t rows = (*ledger)->export_rows(since_ms, format, std::cout);
  std::cout.flush();
  if (!(*ledger)->complete()) {
    std::cerr << "fulcrum ledger export: the ledger stopped answering after " << rows
              << " rows: the export is incomplete\n";
    return 1;
  }
  std::cerr << rows << " rows\n";
  return std::cout ? 0 : 1;
}

}  // namespace fulcrum::cli
