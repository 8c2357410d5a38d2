#include "traffic_planner.hpp"

#include <spdlog/spdlog.h>

namespace fulcrum::net {
namespace {

constexpr auto kTick = std::chrono::seconds(1);
// A reload re-plans (prices or units may have changed), but reloads can come every few
// seconds and each plan reads weeks of ledger: at most one plan a minute, the hour's first
// excepted.
constexpr auto kMinReplan = std::chrono::seconds(60);
constexpr unsigned kProfileWeeks = 4;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             core::WallClock::now().time_since_epoch())
      .count();
}

// The ledger's last weeks folded into the plan for the coming hour; null when the ledger
// cannot be read whole.
std::shared_ptr<const metering::TrafficPlan> plan_from_ledger(const Snapshot& snapshot,
                                                              std::int64_t now_ms) {
  auto store = metering::open_ledger_reader(snapshot.config.ledger);
  if (!store) return nullptr;
  metering::HourProfile profile(snapshot.config, now_ms, kProfileWeeks);
  (*store)->for_each_usage(profile.since_ms(), now_ms,
                           [&profile](const metering::UsageRecord& r) { profile.add(r); });
  if (!(*store)->complete()) return nullptr;
  return std::make_shared<const metering::TrafficPlan>(
      metering::make_plan(snapshot.config, profile, now_ms));
}

}  // namespace

awaitable<void> traffic_plan_loop(Worker& worker, asio::thread_pool::executor_type reader,
                                  Runtime& runtime, const std::atomic<bool>& stopping) {
  steady_timer tick(worker.io);
  std::shared_ptr<const Snapshot> planned_for;
  std::int64_t planned_hour = -1;
  core::Clock::time_point planned_at{};
  while (!stopping.load()) {
    const auto snapshot = runtime.snapshot();
    const std::int64_t now_ms = wall_ms();
    const std::int64_t hour = now_ms / metering::HourProfile::kHourMs;
    const bool reloaded = snapshot != planned_for && core::Clock::now() - planned_at >= kMinReplan;
    if (snapshot->config.ledger.enabled && (hour != planned_hour || reloaded)) {
      planned_for = snapshot;
      planned_hour = hour;
      planned_at = core::Clock::now();
      const auto back = co_await asio::this_coro::executor;
      co_await resume_on(reader);
      std::shared_ptr<const metering::TrafficPlan> plan;
      try {
        plan = plan_from_ledger(*snapshot, now_ms);
      } catch (const std::exception& e) {
        spdlog::warn("traffic_plan_failed error=\"{}\"", e.what());
      }
      co_await resume_on(back);
      if (plan) {
        runtime.metrics().recommended_units(plan->recommended_units);
        runtime.set_plan(std::move(plan));
      }
    }
    tick.expires_after(kTick);
    error_code ec;
    co_await tick.async_wait(as_result(ec));
    if (ec) break;
  }
}

}  // namespace fulcrum::net
