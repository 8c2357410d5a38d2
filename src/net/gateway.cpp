#include "fulcrum/net/gateway.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "admin_handler.hpp"
#include "config_watcher.hpp"
#include "engine_scraper.hpp"
#include "fulcrum/net/http_server.hpp"
#include "fulcrum/net/http_util.hpp"
#include "fulcrum/net/spawn.hpp"
#include "prewarmer.hpp"
#include "proxy_handler.hpp"
#include "runtime.hpp"
#include "traffic_planner.hpp"

namespace fulcrum::net {
namespace {

// Access lines reach stdout within this long even when traffic is too light to fill a buffer.
awaitable<void> flush_access_log_periodically(Worker& worker) {
  steady_timer timer(worker.io);
  for (;;) {
    timer.expires_after(std::chrono::milliseconds(200));
    error_code ec;
    co_await timer.async_wait(as_result(ec));
    if (ec) co_return;
    worker.access_log.flush();
  }
}

// Idle upstream connections past server.upstream_idle_ttl, or closed by their server, are
// closed; pools of endpoints a reload removed or re-pointed are freed.
awaitable<void> sweep_upstream_pools(Worker& worker, Runtime& runtime) {
  steady_timer timer(worker.io);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    error_code ec;
    co_await timer.async_wait(as_result(ec));
    if (ec) co_return;
    const auto snapshot = runtime.snapshot();
    worker.sweep_pools(*snapshot, snapshot->config.server.upstream_idle_ttl);
  }
}

// Keeps this worker's capacity slots and budget holds alive in Redis, sends spend Redis
// missed, and tells the router how many slots the whole fleet has taken.
awaitable<void> renew_shared_state(Worker& worker, Runtime& runtime) {
  steady_timer timer(worker.io);
  const core::Duration interval = worker.shared->lease_ttl() / 3;
  for (;;) {
    timer.expires_after(interval);
    error_code ec;
    co_await timer.async_wait(as_result(ec));
    if (ec) co_return;
    const auto fleet = co_await worker.shared->renew();
    if (!fleet) continue;
    const auto snapshot = runtime.snapshot();
    const auto now = core::Clock::now();
    for (const auto& [name, count] : *fleet) {
      if (const auto index = snapshot->config.find_endpoint(name)) {
        snapshot->live->endpoint(*index).report_fleet_in_flight(count, now);
      }
    }
  }
}

}  // namespace

struct Gateway::Impl {
  Impl(config::Config config, std::string version)
      : runtime(std::move(config), std::move(version)) {}

  Runtime runtime;
  // Shared by the data acceptors. Declared before the workers: connections still open when
  // a worker's io_context is destroyed give their slots back to it.
  ClientCaps client_caps;
  // Signals and config reloads run here, off the request path.
  asio::io_context control{1};
  std::thread control_thread;
  std::unique_ptr<ConfigWatcher> watcher;
  std::vector<std::unique_ptr<Worker>> workers;
  // The traffic plan reads the ledger here, never on a worker. Declared after the workers, so
  // destroyed (joined: a read under way finishes and posts its result) while their
  // io_contexts can still take the post.
  asio::thread_pool ledger_reader{1};
  std::vector<std::unique_ptr<ProxyHandler>> proxies;
  std::vector<tcp_acceptor> data_acceptors;
  std::unique_ptr<tcp_acceptor> admin_acceptor;
  std::unique_ptr<AdminHandler> admin;
  std::unique_ptr<asio::signal_set> signals;
  std::vector<std::thread> threads;
  std::uint16_t data_port = 0;
  std::uint16_t admin_port = 0;
  std::atomic<bool> draining{false};
  core::Clock::time_point drain_deadline;  // written once, before the workers read it

  awaitable<void> finish_drain(Gateway& gateway);
};

Gateway::Gateway(config::Config config, std::string version)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(version))) {}

Gateway::~Gateway() {
  stop();
  wait();
}

void Gateway::start() {
  Impl& g = *impl_;
  const config::ServerConfig server = g.runtime.snapshot()->config.server;
  unsigned count = server.threads != 0 ? server.threads : std::thread::hardware_concurrency();
  count = std::max(1u, count);

  const config::SharedStateConfig& state = g.runtime.snapshot()->config.state;
  const std::string replica = state.redis ? make_replica_id() : std::string();
  for (unsigned i = 0; i < count; ++i) {
    g.workers.push_back(std::make_unique<Worker>(i, g.runtime));
    if (state.redis) {
      g.workers.back()->shared = std::make_unique<SharedState>(
          g.workers.back()->io, state, replica + "/" + std::to_string(i),
          g.runtime.metrics().state_meters("redis"));
    }
    g.proxies.push_back(std::make_unique<ProxyHandler>(g.runtime, *g.workers.back()));
  }
  if (state.redis) {
    spdlog::info("shared_state backend=redis host={} port={} replica={} replicas={}",
                 state.redis->host, state.redis->port, replica, state.replicas);
  }
  // One acceptor per worker on the same port (SO_REUSEPORT): the first binds, possibly to
  // port 0, and the others join the port it got.
  tcp::endpoint data_at = resolve_listen(server.listen.host, server.listen.port);
  for (unsigned i = 0; i < count; ++i) {
    g.data_acceptors.push_back(make_acceptor(g.workers[i]->io, data_at, /*reuse_port=*/true));
    data_at = g.data_acceptors.back().local_endpoint();
  }
  g.data_port = data_at.port();
  const tcp::endpoint admin_at = resolve_listen(server.admin_listen.host, server.admin_listen.port);
  g.admin_acceptor = std::make_unique<tcp_acceptor>(
      make_acceptor(g.workers[0]->io, admin_at, /*reuse_port=*/false));
  g.admin_port = g.admin_acceptor->local_endpoint().port();
  g.admin = std::make_unique<AdminHandler>(g.runtime, g.control);

  Runtime* runtime = &g.runtime;
  const auto limits = [runtime] { return runtime->snapshot()->config.server.limits; };
  for (unsigned i = 0; i < count; ++i) {
    ProxyHandler* proxy = g.proxies[i].get();
    asio::co_spawn(
        g.workers[i]->io,
        accept_loop(
            g.data_acceptors[i], limits,
            [proxy](ClientReply& reply, Request& request) { return proxy->handle(reply, request); },
            &g.workers[i]->connections, &g.client_caps),
        log_if_thrown("accept_loop"));
  }
  AdminHandler* admin = g.admin.get();
  asio::co_spawn(g.workers[0]->io,
                 accept_loop(*g.admin_acceptor, limits,
                             [admin](ClientReply& reply, Request& request) {
                               return admin->handle(reply, request);
                             }),
                 log_if_thrown("admin_accept_loop"));

  // Always running: a reload may add prewarm windows or engine load sources.
  asio::co_spawn(g.workers[0]->io, prewarm_loop(*g.workers[0], g.runtime, g.draining),
                 log_if_thrown("prewarm_loop"));
  asio::co_spawn(
      g.workers[0]->io,
      traffic_plan_loop(*g.workers[0], g.ledger_reader.get_executor(), g.runtime, g.draining),
      log_if_thrown("traffic_plan_loop"));
  asio::co_spawn(g.workers[0]->io, engine_load_loop(*g.workers[0], g.runtime, g.draining),
                 log_if_thrown("engine_load_loop"));

  g.signals = std::make_unique<asio::signal_set>(g.control, SIGINT, SIGTERM, SIGHUP);
  wait_for_signal();
  g.watcher = std::make_unique<ConfigWatcher>(g.control, g.runtime.snapshot()->config.source,
                                              [runtime] { runtime->reload("file"); });
  g.watcher->start();
  g.control_thread = std::thread([&io = g.control] {
    const auto guard = asio::make_work_guard(io);
    io.run();
  });

  for (auto& worker : g.workers) {
    asio::co_spawn(worker->io, flush_access_log_periodically(*worker),
                   log_if_thrown("access_log_flush"));
    asio::co_spawn(worker->io, sweep_upstream_pools(*worker, g.runtime),
                   log_if_thrown("upstream_pool_sweep"));
    if (worker->shared) {
      asio::co_spawn(worker->io, renew_shared_state(*worker, g.runtime),
                     log_if_thrown("shared_state_renewal"));
    }
    g.threads.emplace_back([&io = worker->io] {
      const auto guard = asio::make_work_guard(io);
      io.run();
    });
  }
  g.runtime.ready = true;
  spdlog::info("listening data={}:{} admin={}:{} threads={}", server.listen.host, g.data_port,
               server.admin_listen.host, g.admin_port, count);
}

void Gateway::wait_for_signal() {
  impl_->signals->async_wait([this](const error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      impl_->runtime.reload("signal");
      wait_for_signal();
      return;
    }
    spdlog::info("signal {} received: draining", signal);
    drain();
  });
}

void Gateway::wait() {
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
  impl_->control.stop();
  if (impl_->control_thread.joinable()) impl_->control_thread.join();
  // The workers have stopped: their buffered access lines can be written from here, and
  // every ledger row they queued is committed before the process exits.
  for (auto& worker : impl_->workers) worker->access_log.flush();
  impl_->runtime.close_ledger();
}

void Gateway::drain() {
  Impl& g = *impl_;
  if (g.draining.exchange(true)) return;
  g.runtime.ready = false;  // /readyz answers 503 from now on
  g.drain_deadline = core::Clock::now() + g.runtime.snapshot()->config.server.drain_timeout;
  for (std::size_t i = 0; i < g.workers.size(); ++i) {
    asio::post(g.workers[i]->io, [&g, i] {
      g.workers[i]->drain_deadline = g.drain_deadline;
      error_code ignored;
      g.data_acceptors[i].close(ignored);  // new connections are refused from here on
      g.workers[i]->connections.start_draining();
    });
  }
  asio::co_spawn(g.workers[0]->io, g.finish_drain(*this), log_if_thrown("drain"));
}

// Waits for busy connections to finish, up to drain_timeout, then closes whatever is left
// and stops the workers. Polls: a drain happens once per process life.
awaitable<void> Gateway::Impl::finish_drain(Gateway& gateway) {
  Impl& g = *this;
  // Streams still running at the deadline end themselves with an error event; this margin
  // lets them write it before whatever is left is closed.
  const auto deadline = g.drain_deadline + std::chrono::milliseconds(250);
  const auto connections = [&g](auto count) {
    int total = 0;
    for (auto& worker : g.workers) total += count(worker->connections);
    return total;
  };
  const auto late_answers = [&g] {
    return g.runtime.late_answers_pending.load(std::memory_order_relaxed);
  };
  steady_timer tick(g.workers[0]->io);
  error_code ec;
  while ((connections([](auto& c) { return c.busy(); }) > 0 || late_answers() > 0) &&
         core::Clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait(as_result(ec));
  }
  if (late_answers() > 0) {
    spdlog::warn("drain_timeout passed: {} late upstream answers not metered", late_answers());
  }
  const int unfinished = connections([](auto& c) { return c.busy(); });
  if (unfinished > 0) {
    spdlog::warn("drain_timeout passed: closing {} unfinished requests", unfinished);
    for (auto& worker : g.workers) {
      asio::post(worker->io, [&c = worker->connections] { c.close_all(); });
    }
  }
  // Give closed sessions a moment to unwind (and be metered) before the workers stop.
  const auto grace = core::Clock::now() + std::chrono::milliseconds(500);
  while (connections([](auto& c) { return c.open(); }) > 0 && core::Clock::now() < grace) {
    tick.expires_after(std::chrono::milliseconds(10));
    co_await tick.async_wait(as_result(ec));
  }
  spdlog::info("drained");
  gateway.stop();
}

void Gateway::stop() {
  Impl& g = *impl_;
  g.runtime.ready = false;
  // Immediate: drain() is the graceful way, and ends here.
  for (auto& worker : g.workers) worker->io.stop();
  g.control.stop();
}

std::uint16_t Gateway::data_port() const { return impl_->data_port; }
std::uint16_t Gateway::admin_port() const { return impl_->admin_port; }

}  // namespace fulcrum::net
