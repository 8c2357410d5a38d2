#pragma once
// A real fulcrum-sim and a real fulcrum, started on free ports for one test.
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace fulcrum::testing {

// A port nothing listens on (port 1): connections to it are refused.
std::uint16_t closed_port();
// A port free a moment ago (bound once, then released), for a helper server to listen on.
std::uint16_t free_port();

// The value of the sample `name{labels...}` in a Prometheus text exposition, matching the
// given labels (others may be present); nullopt when there is no such sample.
std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::map<std::string, std::string>& labels);

class Stack {
 public:
  // `sim_yaml` is a fulcrum-sim config whose endpoints listen on 127.0.0.1:0. In
  // `gateway_yaml`, "${NAME}" becomes "127.0.0.1:PORT" of sim endpoint NAME, "${closed}" a
  // refused port, "${ledger}" ledger_path(), and the server section with port-0 listeners is
  // prepended.
  Stack(const std::string& sim_yaml, const std::string& gateway_yaml,
        std::map<std::string, std::string> gateway_env = {});
  ~Stack();

  std::uint16_t port() const { return data_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  std::uint16_t sim_port(const std::string& name) const { return sim_ports_.at(name); }

  // The gateway's config file, and a way to replace it (rendered like the constructor's
  // `gateway_yaml`, then renamed over the file atomically) for reload tests.
  std::string config_path() const { return dir_ + "/fulcrum.yaml"; }
  void rewrite_config(const std::string& gateway_yaml) const;
  // Marks `value` as a secret (a client's key, say) for the audit; every value of
  // `gateway_env` already is one.
  void add_secret(std::string value) { secrets_.push_back(std::move(value)); }

  // A request to the admin listener, with the admin token when the config names one.
  Response admin(const std::string& method, const std::string& path) const;

  // The ledger file the gateway writes (unless the test's config names its own).
  std::string ledger_path() const { return dir_ + "/ledger.db"; }
  // SIGTERM, and a clean exit expected (the ledger is flushed by then).
  void stop_gateway();
  // SIGKILL: no chance to flush anything.
  void kill_gateway();

  nlohmann::json sim_stats() const;
  // The sim endpoint's gate (`hold: true`): how many requests wait at it, and letting them go.
  int sim_held(const std::string& endpoint) const;
  int sim_release(const std::string& endpoint) const;
  std::string metrics() const;
  std::optional<double> metric(const std::string& name,
                               const std::map<std::string, std::string>& labels) const {
    return metric_value(metrics(), name, labels);
  }
  Process& gateway() { return *gateway_; }
  Process& sim() { return *sim_; }
  // Everything the gateway printed (also after stop_gateway()).
  std::vector<std::string> gateway_lines() const {
    return gateway_ ? gateway_->lines() : final_lines_;
  }

 private:
  std::string render(const std::string& gateway_yaml) const;
  // Fails the test if a secret appears in what the gateway printed, served as metrics or
  // config, wrote to the ledger, or sent to any test client (the transcript).
  void audit_secrets();

  TempDir temp_{"test"};
  std::string dir_;
  std::unique_ptr<Process> sim_;
  std::unique_ptr<Process> gateway_;
  std::vector<std::string> final_lines_;
  std::string admin_token_;
  std::vector<std::string> secrets_;
  std::map<std::string, std::uint16_t> sim_ports_;
  std::uint16_t data_port_ = 0;
  std::uint16_t admin_port_ = 0;
};

// Every ledger row in `path`, oldest first, as the JSON of `fulcrum ledger export`.
std::vector<nlohmann::json> ledger_rows(const std::string& path);

std::string fulcrum_binary();
std::string sim_binary();

}  // namespace fulcrum::testing
