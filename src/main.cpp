// The composition root: parse the command line, load the configuration, set up logging,
// run the gateway until a signal stops it.
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "fulcrum/config/loader.hpp"
#include "fulcrum/net/gateway.hpp"

namespace {

constexpr const char* kUsage = R"(fulcrum: an LLM gateway for serverless and provisioned endpoints

usage:
  fulcrum --config FILE     run the gateway on FILE (YAML, schema version 1)
  fulcrum --check FILE      validate FILE, print every problem, exit 0 when it is valid
                            (also: fulcrum check FILE)
  fulcrum keys hash         print the SHA-256 of a key read from standard input (for keys:)
  fulcrum ledger export [--config FILE | --ledger PATH] [--since WHEN] [--format csv|jsonl]
                            print the usage ledger (WHEN: 2026-11-01, ...T08:00:00Z, or 24h ago)
  fulcrum report --config FILE [--ledger PATH] [--since WHEN] [--until WHEN]
                 [--format text|json|html] [--out FILE]
                            the breakeven report: recorded traffic against n provisioned units
  fulcrum replay --config POLICY [--ledger PATH] [--baseline-config FILE] [--since WHEN]
                 [--until WHEN] [--format text|json|html] [--out FILE]
                            the ledger's requests run through POLICY's router in simulated
                            time: cost and SLO attainment per class beside what happened
  fulcrum --version         print the version
  fulcrum --help            print this text

The data plane speaks the OpenAI API (point an SDK's base_url at http://HOST:PORT/v1);
the admin listener serves /metrics, /healthz and /readyz.
)";

void setup_logging() {
  // Log lines (not access lines: each worker writes those itself, see net/access_log.hpp) go
  // through a bounded queue to one thread, so the request path never waits on the terminal.
  // When the queue is full the oldest line is dropped rather than a client stalled. spdlog
  // allocates every slot up front (about 400 bytes each): 64k slots held 26 MiB at idle, while
  // a burst of log lines (not access lines) a thousand deep already means something is wrong.
  spdlog::init_thread_pool(1024, 1);
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "fulcrum", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int print_issues(const std::vector<fulcrum::config::Issue>& issues) {
  for (const auto& issue : issues) std::cerr << issue.to_string() << "\n";
  std::cerr << issues.size() << (issues.size() == 1 ? " problem" : " problems")
            << " in the configuration\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "keys" && args[1] == "hash") return fulcrum::cli::keys_hash();
  if (!args.empty() && args[0] == "report")
    return fulcrum::cli::report({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "replay")
    return fulcrum::cli::replay({args.begin() + 1, args.end()});
  if (args.size() >= 2 && args[0] == "ledger" && args[1] == "export") {
    return fulcrum::cli::ledger_export({args.begin() + 2, args.end()});
  }
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "fulcrum " << FULCRUM_VERSION << "\n";
      return 0;
    }
    if ((arg == "--config" || arg == "--check" || arg == "check") && i + 1 < argc) {
      check_only = arg != "--config";
      config_path = argv[++i];
      continue;
    }
    std::cerr << "fulcrum: unknown argument '" << arg << "'\n\n" << kUsage;
    return 2;
  }
  if (config_path.empty()) {
    std::cerr << kUsage;
    return 2;
  }

  auto config = fulcrum::config::load_file(config_path);
  if (!config) return print_issues(config.error());
  if (check_only) {
    for (const auto& warning : config->warnings) std::cerr << "warning: " << warning << "\n";
    std::cout << config_path << ": ok (" << config->endpoints.size() << " endpoints, "
              << config->models.size() << " models)\n";
    return 0;
  }

  setup_logging();
  try {
    fulcrum::net::Gateway gateway(std::move(*config), FULCRUM_VERSION);
    gateway.start();
    gateway.wait();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    spdlog::shutdown();
    return 1;
  }
  spdlog::info("stopped");
  spdlog::shutdown();
  return 0;
}
