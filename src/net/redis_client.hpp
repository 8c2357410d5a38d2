#pragma once
// One worker's connection to Redis (state.redis). hiredis frames commands and parses replies;
// the worker's io_context waits on the socket, so no thread blocks and commands from all the
// worker's requests share one pipelined connection. Every call has a deadline
// (state.redis.timeout); a connection that fails, or calls that keep missing their deadline,
// open a circuit: for a backoff every call fails at once instead of waiting, then one call
// reconnects. Failures are values (RedisFailure), never exceptions.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/clock.hpp"
#include "fulcrum/core/expected.hpp"
#include "fulcrum/metering/metrics.hpp"
#include "fulcrum/net/asio.hpp"

struct redisAsyncContext;  // hiredis's, kept out of this header

namespace fulcrum::net {

// A reply, copied out of hiredis's (which lives only during its callback).
struct RedisReply {
  enum class Type { nil, integer, string, status, error, array };
  Type type = Type::nil;
  long long integer = 0;
  std::string text;  // string, status or error
  std::vector<RedisReply> elements;

  // An integer reply, or a string holding a number (Lua returns floats as strings).
  std::optional<double> number() const;
};

enum class RedisFailure {
  timeout,       // no reply within the deadline (the command may still have run)
  connection,    // not connected, or the connection broke (it may have run if it was sent)
  circuit_open,  // refused at once: the backend is considered down for a while
  reply,         // Redis answered with an error
};
const char* to_string(RedisFailure failure);

using RedisResult = core::Expected<RedisReply, RedisFailure>;

// A Lua script, run by its SHA-1 (EVALSHA) and loaded on the first NOSCRIPT.
struct LuaScript {
  explicit LuaScript(std::string_view source);
  std::string source;
  std::string sha1;  // hex
};

class RedisClient {
  struct Pending;

 public:
  // `preload`: scripts loaded (SCRIPT LOAD) first thing on every connection, so that EVALSHA
  // finds them and no call needs the slower NOSCRIPT path, which would reorder it.
  RedisClient(asio::io_context& io, const config::RedisConfig& config,
              metering::StateMeters& meters, std::vector<const LuaScript*> preload);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // One command; its reply, or why there is none, by the deadline.
  awaitable<RedisResult> call(const std::vector<std::string>& args);
  // EVALSHA `script` with `keys` then `args`; EVAL when Redis does not have it yet.
  awaitable<RedisResult> eval(const LuaScript& script, const std::vector<std::string>& keys,
                              const std::vector<std::string>& args);
  // The same in two steps: scripts started one after another go out together and their
  // replies come back in one round trip (pipelined); finish each in the order started.
  struct Started {
    std::shared_ptr<Pending> pending;
    const LuaScript* script = nullptr;
    std::vector<std::string> command;
  };
  Started start_eval(const LuaScript& script, const std::vector<std::string>& keys,
                     const std::vector<std::string>& args);
  awaitable<RedisResult> finish(const Started& started);
  // Sends `script` now, so that it reaches Redis before anything this worker sends later, and
  // hands its result to `done` (may be empty) in the background.
  void eval_in_background(const LuaScript& script, const std::vector<std::string>& keys,
                          const std::vector<std::string>& args,
                          std::function<void(const RedisResult&)> done);
  // Drops the connection for good: every call from here fails at once. For shutdown, while
  // the io_context still exists (calls waiting get their failure through it).
  void close();

 private:
  struct Watch;
  std::shared_ptr<Pending> send(const std::vector<std::string>& args);
  awaitable<RedisResult> receive(const std::shared_ptr<Pending>& pending);
  awaitable<RedisResult> finish_eval(const std::shared_ptr<Pending>& pending,
                                     const LuaScript& script,
                                     const std::vector<std::string>& command);
  awaitable<void> finish_in_background(std::shared_ptr<Pending> pending, const LuaScript& script,
                                       std::vector<std::string> command,
                                       std::function<void(const RedisResult&)> done);
  void connect();
  void drop_connection();
  void on_failure(RedisFailure failure, core::Clock::time_point sent);
  void on_success();
  static void on_reply(redisAsyncContext* context, void* reply, void* privdata);

  asio::io_context& io_;
  const config::RedisConfig config_;
  metering::StateMeters& meters_;
  const std::vector<const LuaScript*> preload_;
  redisAsyncContext* context_ = nullptr;
  std::shared_ptr<Watch> watch_;
  unsigned consecutive_timeouts_ = 0;
  core::Clock::time_point last_timeout_seen_{};
  core::Clock::time_point last_error_logged_{};
  core::Duration backoff_;
  core::Clock::time_point retry_at_{};  // the circuit is open until then
  bool closed_ = false;
};

}  // namespace fulcrum::net
