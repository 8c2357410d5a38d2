#include "prewarmer.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "fulcrum/net/spawn.hpp"
#include "upstream_io.hpp"
#include "wire.hpp"

namespace fulcrum::net {
namespace {

constexpr auto kTick = std::chrono::milliseconds(250);

// Runs beside the prewarm loop, one per ping: a slow endpoint holds up only its own ping.
awaitable<void> send_keep_warm(Worker& worker, Runtime& runtime,
                               std::shared_ptr<const Snapshot> snapshot, std::size_t index,
                               config::Prewarm prewarm) {
  const config::Endpoint& endpoint = snapshot->config.endpoints[index];
  const std::string body = nlohmann::json{
      {"model", prewarm.model},
      {"messages", {{{"role", "user"}, {"content", "ping"}}}},
      {"max_tokens", 1}}.dump();
  // In the endpoint's own wire: an Anthropic endpoint is pinged with a Messages request.
  auto request = api::parse_request(api::Operation::chat_completions, body);
  if (!request) co_return;
  auto call =
      provider::provider_of(endpoint.provider.kind).call(*request, endpoint, prewarm.model, {});
  if (!call) co_return;
  const std::string head =
      upstream_head("POST", endpoint.base_url, call->path, "application/json",
                    "fulcrum-prewarm/" + runtime.version(), call->headers, call->body.size());
  const auto pool = worker.pool(*snapshot, index);
  runtime.metrics().prewarm_sent(*snapshot->meters, index);  // counted as it leaves
  const Fetched answer = co_await fetch(*pool, head, call->body, prewarm.timeout, 1u << 20);
  const error_code ec = answer.ec;
  if (!ec && answer.response.result_int() / 100 == 2) {
    snapshot->live->endpoint(index).mark_active(core::Clock::now());
    spdlog::debug("prewarm_sent endpoint={}", endpoint.name);
  } else {
    spdlog::warn("prewarm_failed endpoint={}{}", endpoint.name,
                 ec ? " (" + ec.message() + ")" : std::string());
  }
}

// Inside its window, or for automatic prewarm, where the traffic plan expects traffic now or a
// cold start ahead.
bool active(const config::Prewarm& prewarm, const config::Endpoint& endpoint, Runtime& runtime) {
  const core::WallTime now = core::WallClock::now();
  if (!prewarm.automatic) return prewarm.window.active(now);
  const auto plan = runtime.plan();
  return plan != nullptr &&
         metering::auto_prewarm_due(
             *plan, endpoint,
             std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
}

}  // namespace

awaitable<void> prewarm_loop(Worker& worker, Runtime& runtime, const std::atomic<bool>& stopping) {
  steady_timer tick(worker.io);
  // By endpoint name: indexes may change with a reload.
  std::unordered_map<std::string, core::Clock::time_point> last_sent;
  while (!stopping.load()) {
    const auto snapshot = runtime.snapshot();
    const auto& endpoints = snapshot->config.endpoints;
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      for (const config::Prewarm& prewarm : endpoints[i].prewarm) {
        const auto now = core::Clock::now();
        const auto sent = last_sent.find(endpoints[i].name);
        if (sent != last_sent.end() && now - sent->second < prewarm.every) continue;
        if (!active(prewarm, endpoints[i], runtime)) continue;
        // Real traffic keeps it warm as well as a ping would.
        if (snapshot->live->endpoint(i).idle_for(now) < prewarm.every) continue;
        last_sent[endpoints[i].name] = now;
        asio::co_spawn(worker.io, send_keep_warm(worker, runtime, snapshot, i, prewarm),
                       log_if_thrown("prewarm"));
        break;
      }
    }
    tick.expires_after(kTick);
    error_code ec;
    co_await tick.async_wait(as_result(ec));
    if (ec) co_return;
  }
}

}  // namespace fulcrum::net
