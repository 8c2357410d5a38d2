#pragma once
// What multi-replica tests run beside a Stack: a real redis-server on a free loopback port in
// its own temp directory, and more fulcrum replicas started with the Stack's config (each
// with its own ledger file).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "process.hpp"
#include "stack.hpp"
#include "temp_dir.hpp"

namespace fulcrum::testing {

// redis-server, if installed; nullopt-free: tests call available() first.
class RedisServer {
 public:
  RedisServer();
  ~RedisServer();
  // Whether redis-server is installed (scripts/install-deps --test brings it).
  static bool available();

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  // SIGKILL: gone at once, nothing saved (it saves nothing anyway).
  void kill();
  // Started again on the same port, empty.
  void start();
  // redis-cli's answer to `args` (one line per reply element).
  std::vector<std::string> cli(const std::vector<std::string>& args) const;

 private:
  TempDir temp_{"redis"};
  std::uint16_t port_ = 0;
  std::unique_ptr<Process> server_;
};

// PostgreSQL 15 from Debian's packages: a fresh cluster (initdb) in its own temp directory,
// served on a free loopback port; as the user nobody when the tests run as root (PostgreSQL
// refuses to run as root).
class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  static bool available();

  std::uint16_t port() const { return port_; }
  std::string url() const {
    return "postgresql://fulcrum@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }
  // A fast shutdown (SIGINT): connections are cut, nothing is lost.
  void stop();
  void start();
  // psql's unaligned, tuples-only answer to `sql`, one line per row.
  std::vector<std::string> query(const std::string& sql) const;

 private:
  TempDir temp_{"postgres"};
  std::uint16_t port_ = 0;
  std::unique_ptr<Process> server_;
};

// One more fulcrum, on the config of `stack` with its ledger at `<dir>/ledger-<n>.db`.
class Replica {
 public:
  Replica(const Stack& stack, int n, std::map<std::string, std::string> env = {});
  ~Replica();

  std::uint16_t port() const { return data_port_; }
  std::string metrics() const;
  std::optional<double> metric(const std::string& name,
                               const std::map<std::string, std::string>& labels) const {
    return metric_value(metrics(), name, labels);
  }
  std::string ledger_path() const { return ledger_path_; }
  void kill();
  // SIGTERM, and a clean exit expected.
  void stop();
  Process& process() { return *process_; }

 private:
  std::string config_path_;
  std::string ledger_path_;
  std::unique_ptr<Process> process_;
  std::uint16_t data_port_ = 0;
  std::uint16_t admin_port_ = 0;
};

}  // namespace fulcrum::testing
