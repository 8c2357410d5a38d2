#pragma once
// Subcommands of the fulcrum binary besides running the gateway.
#include <string>
#include <vector>

namespace fulcrum::cli {

// fulcrum keys hash: the SHA-256 (hex) of a key read from standard input, for `keys:`.
int keys_hash();
// fulcrum ledger export [--config FILE | --ledger PATH] [--since WHEN] [--format csv|jsonl]
int ledger_export(const std::vector<std::string>& args);
// fulcrum report --config FILE [--ledger PATH] [--since WHEN] [--until WHEN]
//                [--format text|json|html] [--out FILE]: the breakeven report.
int report(const std::vector<std::string>& args);
// fulcrum replay --config POLICY [--ledger PATH] [--baseline-config FILE] [--since WHEN]
//                [--until WHEN] [--format text|json|html] [--out FILE]: the ledger's requests
// run through another policy, in simulated time.
int replay(const std::vector<std::string>& args);

}  // namespace fulcrum::cli
