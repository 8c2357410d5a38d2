#include "stack.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "fulcrum/metering/ledger.hpp"
#include "fulcrum/net/asio.hpp"
#include "http_client.hpp"

namespace fulcrum::testing {

std::string fulcrum_binary() { return FULCRUM_BIN; }
std::string sim_binary() { return FULCRUM_SIM_BIN; }

std::uint16_t free_port() {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

std::uint16_t closed_port() {
  // Port 1 (tcpmux) is privileged and served by nothing on a test machine. A released
  // ephemeral port is not safe: a fulcrum-sim of a test running in parallel may bind it.
  return 1;
}

std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with(name + "{") && !(labels.empty() && line.starts_with(name + " ")))
      continue;
    bool all = true;
    for (const auto& [key, value] : labels) {
      if (line.find(key + "=\"" + value + "\"") == std::string::npos) all = false;
    }
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

namespace {

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

Stack::Stack(const std::string& sim_yaml, const std::string& gateway_yaml,
             std::map<std::string, std::string> gateway_env) {
  dir_ = temp_.path();
  clear_transcript();
  for (const auto& [name, value] : gateway_env) {
    if (value.size() >= 8) secrets_.push_back(value);  // keys and tokens, by construction
  }
  write_file(dir_ + "/sim.yaml", sim_yaml);
  sim_ = std::make_unique<Process>(
      std::vector<std::string>{sim_binary(), "--config", dir_ + "/sim.yaml"});

  // Every sim endpoint announces "listening NAME HOST:PORT".
  std::size_t expected = 0;
  for (auto at = sim_yaml.find("listen:"); at != std::string::npos;
       at = sim_yaml.find("listen:", at + 1)) {
    ++expected;
  }
  const std::regex announce("^listening (\\S+) [^ ]+:(\\d+)");
  for (const auto& line : sim_->wait_for_lines(announce, expected)) {
    std::smatch m;
    std::regex_search(line, m, announce);
    sim_ports_[m[1]] = static_cast<std::uint16_t>(std::stoi(m[2]));
  }
  if (sim_ports_.size() < expected) throw std::runtime_error("fulcrum-sim did not start");
  const std::string gateway_text = render(gateway_yaml);
  // A config that guards the admin listener: metrics() sends its token.
  std::smatch token_env;
  if (std::regex_search(gateway_text, token_env, std::regex("admin_token_env: *(\\S+)")) &&
      gateway_env.count(token_env[1])) {
    admin_token_ = gateway_env.at(token_env[1]);
  }
  write_file(config_path(), gateway_text);
  gateway_ = std::make_unique<Process>(
      std::vector<std::string>{fulcrum_binary(), "--config", config_path()}, gateway_env);
  const auto ports = gateway_->wait_for(std::regex("listening data=\\S+:(\\d+ admin=\\S+:\\d+)"));
  if (!ports) {
    std::string output;
    for (const auto& l : gateway_->lines()) output += l + "\n";
    throw std::runtime_error("fulcrum did not start:\n" + output);
  }
  std::smatch m;
  std::regex_search(*ports, m, std::regex("(\\d+) admin=\\S+:(\\d+)"));
  data_port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  admin_port_ = static_cast<std::uint16_t>(std::stoi(m[2]));
}

std::string Stack::render(const std::string& gateway_yaml) const {
  std::string gateway_text = gateway_yaml;
  for (const auto& [name, port] : sim_ports_) {
    gateway_text =
        replace_all(gateway_text, "${" + name + "}", "127.0.0.1:" + std::to_string(port));
  }
  gateway_text =
      replace_all(gateway_text, "${closed}", "127.0.0.1:" + std::to_string(closed_port()));
  if (gateway_text.find("server:") == std::string::npos) {
    gateway_text = "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n" +
                   gateway_text;
  }
  gateway_text = replace_all(gateway_text, "${ledger}", ledger_path());
  // Each test its own ledger, unless it brings one.
  if (gateway_text.find("ledger:") == std::string::npos) {
    gateway_text += "\nledger: {path: " + dir_ + "/ledger.db}\n";
  }
  return "version: 1\n" + gateway_text;
}

void Stack::rewrite_config(const std::string& gateway_yaml) const {
  // Written beside it, then renamed over it: the way editors save, and atomic.
  const std::string temporary = dir_ + "/.fulcrum.yaml.tmp";
  write_file(temporary, render(gateway_yaml));
  std::filesystem::rename(temporary, config_path());
}

namespace {

// Stops a child and fails the running test if it did not exit cleanly or a sanitizer spoke:
// a crash or a leak in the gateway must not hide behind a passing client-side check.
void stop_and_check(Process& process, const std::string& name) {
  const int status = process.stop();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << name << " did not exit cleanly on SIGTERM (wait status " << status << ")";
  }
  for (const auto& line : process.lines()) {
    if (line.find("Sanitizer") != std::string::npos ||
        line.find("runtime error:") != std::string::npos) {
      ADD_FAILURE() << name << ": " << line;
    }
  }
}

}  // namespace

void Stack::stop_gateway() {
  if (!gateway_) return;
  stop_and_check(*gateway_, "fulcrum");
  final_lines_ = gateway_->lines();
  gateway_.reset();
}

void Stack::kill_gateway() {
  if (!gateway_) return;
  gateway_->signal(SIGKILL);
  gateway_->stop();
  gateway_.reset();
}

std::vector<nlohmann::json> ledger_rows(const std::string& path) {
  auto ledger = metering::SqliteLedger::open(path);
  if (!ledger) throw std::runtime_error(ledger.error());
  std::stringstream out;
  (*ledger)->export_rows(0, metering::ExportFormat::jsonl, out);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(out, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

void Stack::audit_secrets() {
  if (secrets_.empty()) return;
  std::vector<std::pair<std::string, std::string>> places;  // where, what
  if (gateway_) {
    try {
      places.emplace_back("/metrics", metrics());
      places.emplace_back("/admin/config", admin("GET", "/admin/config").body);
    } catch (const std::exception&) {
      // A test that broke the gateway on purpose: its other outputs are still searched.
    }
    stop_and_check(*gateway_, "fulcrum");
    final_lines_ = gateway_->lines();
    gateway_.reset();
  }
  std::string log;
  for (const auto& line : final_lines_) log += line + "\n";
  places.emplace_back("the gateway's log", log);
  if (std::filesystem::exists(ledger_path())) {
    std::string rows;
    for (const auto& row : ledger_rows(ledger_path())) rows += row.dump() + "\n";
    places.emplace_back("the ledger", rows);
  }
  places.emplace_back("responses to clients", transcript());
  for (const std::string& secret : secrets_) {
    for (const auto& [where, text] : places) {
      if (text.find(secret) != std::string::npos) {
        ADD_FAILURE() << "a secret (" << secret.substr(0, 4) << "...) appears in " << where;
      }
    }
  }
}

Stack::~Stack() {
  audit_secrets();
  if (gateway_) stop_and_check(*gateway_, "fulcrum");
  if (sim_) stop_and_check(*sim_, "fulcrum-sim");
  gateway_.reset();
  sim_.reset();
}

nlohmann::json Stack::sim_stats() const {
  HttpClient client(sim_ports_.begin()->second);
  return nlohmann::json::parse(client.get("/sim/stats").body);
}

int Stack::sim_held(const std::string& endpoint) const {
  return sim_stats()[endpoint]["held"].get<int>();
}

int Stack::sim_release(const std::string& endpoint) const {
  HttpClient client(sim_port(endpoint));
  return nlohmann::json::parse(client.post("/sim/release", "").body)["released"].get<int>();
}

Response Stack::admin(const std::string& method, const std::string& path) const {
  HttpClient client(admin_port_);
  std::map<std::string, std::string> headers;
  if (!admin_token_.empty()) headers["authorization"] = "Bearer " + admin_token_;
  return client.request(method, path, "", headers);
}

std::string Stack::metrics() const { return admin("GET", "/metrics").body; }

}  // namespace fulcrum::testing
