#include "redis_client.hpp"

#include <hiredis/async.h>
#include <openssl/evp.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "fulcrum/net/spawn.hpp"

namespace fulcrum::net {
namespace {

constexpr core::Duration kFirstBackoff = std::chrono::milliseconds(100);
constexpr core::Duration kLongestBackoff = std::chrono::seconds(1);
// Two deadlines missed in a row: Redis is stalled (or the network is), not merely slow once.
constexpr unsigned kTimeoutsBeforeOpen = 2;

RedisReply copy_reply(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::string;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::status;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::error;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) {
        out.elements.push_back(copy_reply(*reply.element[i]));
      }
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

std::optional<double> RedisReply::number() const {
  if (type == Type::integer) return static_cast<double>(integer);
  if (type != Type::string) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

const char* to_string(RedisFailure failure) {
  switch (failure) {
    case RedisFailure::timeout:
      return "timeout";
    case RedisFailure::connection:
      return "connection";
    case RedisFailure::circuit_open:
      return "circuit_open";
    case RedisFailure::reply:
      return "reply";
  }
  return "unknown";
}

LuaScript::LuaScript(std::string_view text) : source(text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(source.data(), source.size(), digest, &length, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < length; ++i) {
    sha1.push_back(kHex[digest[i] >> 4]);
    sha1.push_back(kHex[digest[i] & 0xf]);
  }
}

// One call waiting for its reply. The reply callback fills `result` and cancels the timer
// the caller waits on; a caller that gave up at its deadline has left, and the late reply is
// dropped here.
struct RedisClient::Pending {
  explicit Pending(asio::io_context& io) : timer(io) {}
  steady_timer timer;
  std::optional<RedisResult> result;  // set at once when the command could not be sent
  core::Clock::time_point started;
  std::string command;  // its name, for the log
};

// hiredis's event hooks on the worker's io_context: it says when it wants to read or write,
// and the socket's readiness calls it back. `alive` turns false when hiredis frees the
// context (its cleanup hook), after which no handler touches it.
struct RedisClient::Watch : std::enable_shared_from_this<RedisClient::Watch> {
  Watch(asio::io_context& io, int fd, redisAsyncContext* c, RedisClient& owner)
      : socket(io, fd), context(c), client(&owner) {}
  stream_descriptor socket;
  redisAsyncContext* context;
  RedisClient* client;
  bool alive = true;
  bool reading = false;
  bool writing = false;
  bool read_armed = false;
  bool write_armed = false;

  static void arm_read(const std::shared_ptr<Watch>& w) {
    if (w->read_armed || !w->alive || !w->reading) return;
    w->read_armed = true;
    w->socket.async_wait(asio::posix::descriptor_base::wait_read, [w](const error_code& ec) {
      w->read_armed = false;
      if (ec || !w->alive || !w->reading) return;
      redisAsyncHandleRead(w->context);  // may free the context: cleanup clears `alive`
      arm_read(w);
    });
  }
  static void arm_write(const std::shared_ptr<Watch>& w) {
    if (w->write_armed || !w->alive || !w->writing) return;
    w->write_armed = true;
    w->socket.async_wait(asio::posix::descriptor_base::wait_write, [w](const error_code& ec) {
      w->write_armed = false;
      if (ec || !w->alive || !w->writing) return;
      redisAsyncHandleWrite(w->context);
      arm_write(w);
    });
  }

  static void add_read(void* data) {
    auto* w = static_cast<Watch*>(data);
    w->reading = true;
    arm_read(w->shared_from_this());
  }
  static void del_read(void* data) { static_cast<Watch*>(data)->reading = false; }
  static void add_write(void* data) {
    auto* w = static_cast<Watch*>(data);
    w->writing = true;
    arm_write(w->shared_from_this());
  }
  static void del_write(void* data) { static_cast<Watch*>(data)->writing = false; }
  // Called whenever hiredis frees the context: a connection that broke, one that never
  // connected, or drop_connection(). The client must not use it again.
  static void cleanup(void* data) {
    auto* w = static_cast<Watch*>(data);
    if (w->client->context_ == w->context) w->client->context_ = nullptr;
    w->alive = false;
    w->reading = w->writing = false;
    // hiredis closes the descriptor; Asio must only forget it.
    error_code ignored;
    w->socket.cancel(ignored);
    (void)w->socket.release();
  }
};

RedisClient::RedisClient(asio::io_context& io, const config::RedisConfig& config,
                         metering::StateMeters& meters, std::vector<const LuaScript*> preload)
    : io_(io),
      config_(config),
      meters_(meters),
      preload_(std::move(preload)),
      backoff_(kFirstBackoff) {}

RedisClient::~RedisClient() { drop_connection(); }

void RedisClient::connect() {
  // A host name is resolved here, by hiredis, in the worker's thread; the circuit's backoff
  // bounds how often. Use an address (or a resolver that answers fast) for Redis.
  redisAsyncContext* context = redisAsyncConnect(config_.host.c_str(), config_.port);
  if (context == nullptr) return;
  if (context->err != 0) {
    spdlog::warn("state_backend_connect_failed backend=redis host={} port={} error=\"{}\"",
                 config_.host, config_.port, context->errstr);
    redisAsyncFree(context);
    return;
  }
  watch_ = std::make_shared<Watch>(io_, context->c.fd, context, *this);
  context->ev.data = watch_.get();
  context->ev.addRead = &Watch::add_read;
  context->ev.delRead = &Watch::del_read;
  context->ev.addWrite = &Watch::add_write;
  context->ev.delWrite = &Watch::del_write;
  context->ev.cleanup = &Watch::cleanup;
  context_ = context;

  // Sent before any call on this connection, in order: hiredis pipelines them. A refused
  // password makes every later call fail with an error reply, which the log shows.
  std::vector<std::string> setup;
  if (!config_.password.empty()) {
    setup = {"AUTH"};
    if (!config_.username.empty()) setup.push_back(config_.username);
    setup.emplace_back(config_.password.reveal());
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string& arg : setup) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    redisAsyncCommandArgv(context_, nullptr, nullptr, static_cast<int>(argv.size()), argv.data(),
                          lengths.data());
  }
  if (config_.database != 0) {
    const std::string database = std::to_string(config_.database);
    const char* argv[] = {"SELECT", database.c_str()};
    const std::size_t lengths[] = {6, database.size()};
    redisAsyncCommandArgv(context_, nullptr, nullptr, 2, argv, lengths);
  }
  for (const LuaScript* script : preload_) {
    const char* argv[] = {"SCRIPT", "LOAD", script->source.c_str()};
    const std::size_t lengths[] = {6, 4, script->source.size()};
    redisAsyncCommandArgv(context_, nullptr, nullptr, 3, argv, lengths);
  }
}

void RedisClient::drop_connection() {
  // Every call still waiting gets a null reply (a connection failure) from hiredis.
  if (context_ != nullptr) redisAsyncFree(std::exchange(context_, nullptr));
  watch_.reset();
}

void RedisClient::close() {
  closed_ = true;
  drop_connection();
}

void RedisClient::on_reply(redisAsyncContext* /*context*/, void* reply, void* privdata) {
  const std::unique_ptr<std::shared_ptr<Pending>> owner(
      static_cast<std::shared_ptr<Pending>*>(privdata));
  Pending& pending = **owner;
  if (reply == nullptr) {
    pending.result.emplace(core::Unexpected{RedisFailure::connection});
  } else {
    pending.result.emplace(copy_reply(*static_cast<const redisReply*>(reply)));
  }
  pending.timer.cancel();
}

void RedisClient::on_failure(RedisFailure failure, core::Clock::time_point sent) {
  switch (failure) {
    case RedisFailure::timeout:
      meters_.timeouts->Increment();
      // Calls sent together (admission pipelines several) miss their deadlines together: one
      // stall, counted once. Only a call sent after the last timeout was seen counts again.
      if (sent <= last_timeout_seen_) return;
      last_timeout_seen_ = core::Clock::now();
      break;
    case RedisFailure::connection:
      meters_.connection_errors->Increment();
      break;
    case RedisFailure::circuit_open:
      meters_.circuit_open->Increment();
      return;
    case RedisFailure::reply:
      meters_.reply_errors->Increment();
      return;
  }
  const auto now = core::Clock::now();
  if (now < retry_at_) return;  // already open: calls that were waiting report in
  if (failure == RedisFailure::timeout && ++consecutive_timeouts_ < kTimeoutsBeforeOpen) return;
  meters_.up->Set(0);
  spdlog::warn("state_backend_down backend=redis reason={} retry_in_ms={}", to_string(failure),
               backoff_.count());
  retry_at_ = now + backoff_;
  backoff_ = std::min(kLongestBackoff, backoff_ * 2);
  consecutive_timeouts_ = 0;
  drop_connection();
}

void RedisClient::on_success() {
  consecutive_timeouts_ = 0;
  if (backoff_ != kFirstBackoff) spdlog::info("state_backend_up backend=redis");
  backoff_ = kFirstBackoff;
  meters_.up->Set(1);
}

std::shared_ptr<RedisClient::Pending> RedisClient::send(const std::vector<std::string>& args) {
  auto pending = std::make_shared<Pending>(io_);
  pending->started = core::Clock::now();
  pending->command = args.front();
  if (closed_) {
    pending->result.emplace(core::Unexpected{RedisFailure::connection});
    return pending;
  }
  if (pending->started < retry_at_) {
    pending->result.emplace(core::Unexpected{RedisFailure::circuit_open});
    return pending;
  }
  if (context_ == nullptr) connect();
  if (context_ == nullptr) {
    pending->result.emplace(core::Unexpected{RedisFailure::connection});
    return pending;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* owner = new std::shared_ptr<Pending>(pending);
  if (redisAsyncCommandArgv(context_, &RedisClient::on_reply, owner, static_cast<int>(argv.size()),
                            argv.data(), lengths.data()) != REDIS_OK) {
    delete owner;
    pending->result.emplace(core::Unexpected{RedisFailure::connection});
    return pending;
  }
  pending->timer.expires_after(config_.timeout);
  return pending;
}

awaitable<RedisResult> RedisClient::receive(const std::shared_ptr<Pending>& pending) {
  if (!pending->result) {
    error_code ec;
    co_await pending->timer.async_wait(as_result(ec));
  }
  if (!pending->result) {
    on_failure(RedisFailure::timeout, pending->started);
    co_return core::Unexpected{RedisFailure::timeout};
  }
  RedisResult result = std::move(*pending->result);
  if (!result) {
    on_failure(result.error(), pending->started);
    co_return result;
  }
  meters_.call_seconds->Observe(core::seconds_between(pending->started, core::Clock::now()));
  on_success();
  if (result->type == RedisReply::Type::error && !result->text.starts_with("NOSCRIPT")) {
    // At most a line a second: a Redis out of memory or refusing our password answers every
    // call so, and the counter tells how many.
    const auto now = core::Clock::now();
    if (now - last_error_logged_ >= std::chrono::seconds(1)) {
      last_error_logged_ = now;
      spdlog::error("state_backend_error backend=redis command={} error=\"{}\"", pending->command,
                    result->text);
    }
    on_failure(RedisFailure::reply, pending->started);
  }
  co_return result;
}

awaitable<RedisResult> RedisClient::call(const std::vector<std::string>& args) {
  // Named, not temporaries in the co_await: GCC 12 destroys such temporaries twice.
  const std::shared_ptr<Pending> pending = send(args);
  co_return co_await receive(pending);
}

namespace {

std::vector<std::string> evalsha_command(const LuaScript& script,
                                         const std::vector<std::string>& keys,
                                         const std::vector<std::string>& args) {
  std::vector<std::string> command;
  command.reserve(3 + keys.size() + args.size());
  command.emplace_back("EVALSHA");
  command.push_back(script.sha1);
  command.push_back(std::to_string(keys.size()));
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

}  // namespace

RedisClient::Started RedisClient::start_eval(const LuaScript& script,
                                             const std::vector<std::string>& keys,
                                             const std::vector<std::string>& args) {
  Started started;
  started.script = &script;
  started.command = evalsha_command(script, keys, args);
  started.pending = send(started.command);
  return started;
}

awaitable<RedisResult> RedisClient::finish(const Started& started) {
  co_return co_await finish_eval(started.pending, *started.script, started.command);
}

awaitable<RedisResult> RedisClient::eval(const LuaScript& script,
                                         const std::vector<std::string>& keys,
                                         const std::vector<std::string>& args) {
  const Started started = start_eval(script, keys, args);
  co_return co_await finish(started);
}

// The reply to an EVALSHA; when Redis does not have the script yet (first use, or after it
// restarted), EVAL loads it for next time.
awaitable<RedisResult> RedisClient::finish_eval(const std::shared_ptr<Pending>& pending,
                                                const LuaScript& script,
                                                const std::vector<std::string>& command) {
  RedisResult result = co_await receive(pending);
  if (result && result->type == RedisReply::Type::error && result->text.starts_with("NOSCRIPT")) {
    std::vector<std::string> loading = command;
    loading[0] = "EVAL";
    loading[1] = script.source;
    result = co_await call(loading);
  }
  if (result && result->type == RedisReply::Type::error) {
    co_return core::Unexpected{RedisFailure::reply};
  }
  co_return result;
}

void RedisClient::eval_in_background(const LuaScript& script, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args,
                                     std::function<void(const RedisResult&)> done) {
  std::vector<std::string> command = evalsha_command(script, keys, args);
  // Sent now, so that it reaches Redis before anything this worker sends after it.
  std::shared_ptr<Pending> pending = send(command);
  asio::co_spawn(
      io_, finish_in_background(std::move(pending), script, std::move(command), std::move(done)),
      log_if_thrown("state_backend_call"));
}

awaitable<void> RedisClient::finish_in_background(std::shared_ptr<Pending> pending,
                                                  const LuaScript& script,
                                                  std::vector<std::string> command,
                                                  std::function<void(const RedisResult&)> done) {
  const RedisResult result = co_await finish_eval(pending, script, command);
  if (done) done(result);
}

}  // namespace fulcrum::net
