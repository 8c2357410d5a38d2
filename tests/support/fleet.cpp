#include "fleet.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "http_client.hpp"

namespace fulcrum::testing {
namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";
constexpr const char* kRedisCli = "/usr/bin/redis-cli";

// Everything `process` printed, for an error message.
std::string printed(const Process& process) {
  std::string output;
  for (const auto& line : process.lines()) output += line + "\n";
  return output;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool RedisServer::available() {
  return access(kRedisServer, X_OK) == 0 && access(kRedisCli, X_OK) == 0;
}

RedisServer::RedisServer() {
  port_ = free_port();
  start();
}

RedisServer::~RedisServer() {
  if (server_) server_->stop();
}

void RedisServer::start() {
  // No persistence, no protected mode games: a throwaway server for one test, loopback only.
  server_ = std::make_unique<Process>(std::vector<std::string>{
      kRedisServer, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir", temp_.path(),
      "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "notice"});
  if (!server_->wait_for(std::regex("(Ready to accept connections)"))) {
    throw std::runtime_error("redis-server did not start:\n" + printed(*server_));
  }
}

void RedisServer::kill() {
  if (!server_) return;
  server_->signal(SIGKILL);
  server_->stop();
  server_.reset();
}

std::vector<std::string> RedisServer::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> raw{kRedisCli, "-p", std::to_string(port_), "--raw"};
  raw.insert(raw.end(), args.begin(), args.end());
  Process cli(raw);
  cli.wait_exit();
  return cli.lines();
}

namespace {

constexpr const char* kPostgresBin = "/usr/lib/postgresql/15/bin/";
constexpr const char* kPsql = "/usr/bin/psql";

// The command prefix that runs a server as nobody when this process is root.
std::vector<std::string> unprivileged(std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> wrapped{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                   "--clear-groups"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

}  // namespace

bool PostgresServer::available() {
  return access((std::string(kPostgresBin) + "postgres").c_str(), X_OK) == 0 &&
         access(kPsql, X_OK) == 0;
}

PostgresServer::PostgresServer() {
  if (geteuid() == 0 && chown(temp_.path().c_str(), 65534, 65534) != 0) {
    throw std::runtime_error("cannot hand " + temp_.path() + " to nobody");
  }
  Process initdb(unprivileged({std::string(kPostgresBin) + "initdb", "-D", temp_.path() + "/data",
                               "-U", "fulcrum", "--auth=trust", "--no-sync", "-E", "UTF8"}));
  const int status = initdb.wait_exit(std::chrono::seconds(60));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("initdb failed:\n" + printed(initdb));
  }
  port_ = free_port();
  start();
}

PostgresServer::~PostgresServer() { stop(); }

void PostgresServer::start() {
  // Durability off: a throwaway cluster for one test, and the tests do not pull the plug.
  server_ = std::make_unique<Process>(unprivileged(
      {std::string(kPostgresBin) + "postgres", "-D", temp_.path() + "/data", "-p",
       std::to_string(port_), "-k", temp_.path(), "-c", "listen_addresses=127.0.0.1", "-c",
       "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"}));
  if (!server_->wait_for(std::regex("(ready to accept connections)"), std::chrono::seconds(30))) {
    throw std::runtime_error("postgres did not start:\n" + printed(*server_));
  }
}

void PostgresServer::stop() {
  if (!server_) return;
  server_->signal(SIGINT);
  server_->wait_exit(std::chrono::seconds(30));
  server_.reset();
}

std::vector<std::string> PostgresServer::query(const std::string& sql) const {
  Process psql({kPsql, "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "fulcrum", "-d",
                "postgres", "-At", "-c", sql});
  psql.wait_exit();
  return psql.lines();
}

Replica::Replica(const Stack& stack, int n, std::map<std::string, std::string> env) {
  std::string text = read_file(stack.config_path());
  ledger_path_ = stack.ledger_path();
  ledger_path_.replace(ledger_path_.rfind("ledger.db"), 9, "ledger-" + std::to_string(n) + ".db");
  const auto at = text.find(stack.ledger_path());
  if (at == std::string::npos) throw std::runtime_error("the stack's config names no ledger");
  text.replace(at, stack.ledger_path().size(), ledger_path_);
  config_path_ = stack.config_path() + "." + std::to_string(n);
  std::ofstream(config_path_) << text;
  process_ = std::make_unique<Process>(
      std::vector<std::string>{fulcrum_binary(), "--config", config_path_}, std::move(env));
  const auto ports = process_->wait_for(std::regex("listening data=\\S+:(\\d+ admin=\\S+:\\d+)"));
  if (!ports) throw std::runtime_error("replica " + std::to_string(n) + " did not start");
  std::smatch m;
  std::regex_search(*ports, m, std::regex("(\\d+) admin=\\S+:(\\d+)"));
  data_port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  admin_port_ = static_cast<std::uint16_t>(std::stoi(m[2]));
}

Replica::~Replica() {
  if (process_) stop();
}

std::string Replica::metrics() const {
  HttpClient client(admin_port_);
  return client.request("GET", "/metrics", "", {}).body;
}

void Replica::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->stop();
  process_.reset();
}

void Replica::stop() {
  if (!process_) return;
  const int status = process_->stop();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "replica did not exit cleanly on SIGTERM (wait status " << status << ")";
  }
  for (const auto& line : process_->lines()) {
    if (line.find("Sanitizer") != std::string::npos ||
        line.find("runtime error:") != std::string::npos) {
      ADD_FAILURE() << "replica: " << line;
    }
  }
  process_.reset();
}

}  // namespace fulcrum::testing
