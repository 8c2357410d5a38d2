#include "ledger_reading.hpp"

#include <iostream>

namespace fulcrum::cli {

bool read_ledger(std::string_view command, const config::LedgerConfig& ledger,
                 const std::string& path, std::int64_t since_ms, std::int64_t until_ms,
                 const std::function<void(const metering::UsageRecord&)>& visit) {
  auto reader = metering::open_ledger_reader(ledger, path);
  if (!reader) {
    std::cerr << "fulcrum " << command << ": " << reader.error() << "\n";
    return false;
  }
  (*reader)->for_each_usage(since_ms, until_ms, visit);
  if (!(*reader)->complete()) {
    std::cerr << "fulcrum " << command
              << ": the ledger stopped answering part-way: no result from part of the traffic\n";
    return false;
  }
  return true;
}

}  // namespace fulcrum::cli
