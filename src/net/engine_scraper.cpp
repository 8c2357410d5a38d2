#include "engine_scraper.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <unordered_map>

#include "engine_load.hpp"
#include "fulcrum/net/spawn.hpp"
#include "upstream_io.hpp"
#include "wire.hpp"

namespace fulcrum::net {
namespace {

constexpr auto kTick = std::chrono::milliseconds(50);
constexpr std::size_t kLargestPage = 8u << 20;  // a vLLM page is tens of KB

// What the loop knows of one endpoint's engine, by endpoint name (indexes change on reload).
struct Scrape {
  std::shared_ptr<UpstreamPool> pool;
  std::string url;  // the pool's, to notice a reload that moved it
  core::Clock::time_point due{};
  core::Clock::time_point answered{};  // last good scrape; epoch: never
  bool in_flight = false;
  bool failing = false;  // for the log: one line when it starts failing, one when it recovers
};

awaitable<void> scrape_once(Runtime& runtime, std::string name, std::shared_ptr<Scrape> scrape,
                            config::EngineLoadSource source) {
  // However this ends, the next scrape may start.
  struct Done {
    Scrape& scrape;
    ~Done() { scrape.in_flight = false; }
  } done{*scrape};
  const std::string head = upstream_head("GET", source.metrics_url, "", "text/plain",
                                         "fulcrum/" + runtime.version(), {}, 0);
  // The scrape's own deadline: an engine slower than its interval is as good as silent.
  const Fetched page = co_await fetch(*scrape->pool, head, "", source.interval, kLargestPage);
  const auto snapshot = runtime.snapshot();
  const auto index = snapshot->config.find_endpoint(name);
  if (!index) co_return;
  std::optional<EngineLoad> load;
  if (!page.ec && page.response.result_int() == 200) {
    load = parse_engine_metrics(page.response.body(), source.format);
  }
  if (!load) {
    if (!scrape->failing) {
      scrape->failing = true;
      spdlog::warn("engine_load_scrape_failed endpoint={} status={}{}", name,
                   page.ec ? 0 : page.response.result_int(),
                   page.ec ? " (" + page.ec.message() + ")" : std::string());
    }
    co_return;
  }
  if (scrape->failing) {
    scrape->failing = false;
    spdlog::info("engine_load_scrape_recovered endpoint={}", name);
  }
  const auto now = core::Clock::now();
  scrape->answered = now;
  router::EndpointState::EngineReading reading;
  reading.running = static_cast<unsigned>(std::min(load->running, 1e6));
  reading.waiting = static_cast<unsigned>(std::min(load->waiting, 1e6));
  reading.kv_cache_usage = load->kv_cache_usage;
  snapshot->live->endpoint(*index).report_engine_load(reading, now);
  runtime.metrics().engine_load(*snapshot->meters, *index, load->running, load->waiting,
                                load->kv_cache_usage.value_or(-1));
}

}  // namespace

awaitable<void> engine_load_loop(Worker& worker, Runtime& runtime,
                                 const std::atomic<bool>& stopping) {
  steady_timer tick(worker.io);
  std::unordered_map<std::string, std::shared_ptr<Scrape>> scrapes;
  while (!stopping.load()) {
    const auto snapshot = runtime.snapshot();
    const auto now = core::Clock::now();
    const auto& endpoints = snapshot->config.endpoints;
    // Endpoints a reload removed, or whose load it removed, are scraped no more.
    std::erase_if(scrapes, [&](const auto& entry) {
      const auto index = snapshot->config.find_endpoint(entry.first);
      return !index || !endpoints[*index].load;
    });
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      const config::Endpoint& endpoint = endpoints[i];
      if (!endpoint.load) continue;
      auto& scrape = scrapes[endpoint.name];
      const std::string url = endpoint.load->metrics_url.to_string();
      if (!scrape || scrape->url != url) {
        scrape = std::make_shared<Scrape>();
        scrape->url = url;
        scrape->pool =
            std::make_shared<UpstreamPool>(worker.io, endpoint.load->metrics_url, worker.tls);
      }
      runtime.metrics().engine_load_stale(*snapshot->meters, i,
                                          scrape->answered == core::Clock::time_point{} ||
                                              now - scrape->answered > endpoint.load->stale_after);
      if (scrape->in_flight || now < scrape->due) continue;
      scrape->in_flight = true;
      scrape->due = now + endpoint.load->interval;
      asio::co_spawn(worker.io, scrape_once(runtime, endpoint.name, scrape, *endpoint.load),
                     log_if_thrown("engine_load_scrape"));
    }
    tick.expires_after(kTick);
    error_code ec;
    co_await tick.async_wait(as_result(ec));
    if (ec) co_return;
  }
}

}  // namespace fulcrum::net
