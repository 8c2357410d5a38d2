#pragma once
// Reading the ledger for `fulcrum report` and `fulcrum replay`: the SQLite file --ledger names,
// else the ledger the config names (PostgreSQL when ledger.postgres is set).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "fulcrum/config/config.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::cli {

// Visits every row that started in [since_ms, until_ms), oldest first. On failure (the ledger
// cannot be opened, or stopped answering part-way) prints why as "fulcrum COMMAND: ..." and
// returns false: a result from part of the traffic would mislead.
bool read_ledger(std::string_view command, const config::LedgerConfig& ledger,
                 const std::string& path, std::int64_t since_ms, std::int64_t until_ms,
                 const std::function<void(const metering::UsageRecord&)>& visit);

}  // namespace fulcrum::cli
