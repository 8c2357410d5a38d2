#include "fulcrum/metering/ledger.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fulcrum/metering/postgres_ledger.hpp"

namespace fulcrum::metering {

Ledger::Ledger(std::unique_ptr<LedgerStore> store, const config::LedgerConfig& config)
    : store_(std::move(store)), config_(config) {
  queue_.reserve(config_.batch_rows);
  writer_ = std::thread([this] { run(); });
}

Ledger::~Ledger() { close(); }

bool Ledger::record(LedgerRow row) {
  {
    const std::lock_guard lock(mutex_);
    if (queue_.size() >= config_.queue_capacity || stopping_) {
      stats_.dropped.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("ledger_row_dropped request_id={} queued={}", row.request_id(), queue_.size());
      return false;
    }
    queue_.push_back(std::move(row));
    stats_.queued.store(queue_.size(), std::memory_order_relaxed);
    if (queue_.size() < config_.batch_rows) return true;
  }
  wake_.notify_one();
  return true;
}

void Ledger::close() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

// Commits at most one batch window after a row was queued (plus the commit itself).
void Ledger::run() {
  // Below the workers: on a busy machine, commits wait rather than the requests.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  std::vector<LedgerRow> batch;
  batch.reserve(config_.batch_rows);
  for (;;) {
    bool last = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, config_.batch_window,
                     [this] { return stopping_ || queue_.size() >= config_.batch_rows; });
      batch.swap(queue_);
      stats_.queued.store(0, std::memory_order_relaxed);
      last = stopping_;
    }
    if (batch.empty()) {
      store_->idle();
    } else {
      if (store_->append(batch)) {
        stats_.written.fetch_add(batch.size(), std::memory_order_relaxed);
      } else {
        stats_.failed.fetch_add(batch.size(), std::memory_order_relaxed);
        spdlog::error("ledger_batch_failed rows={}", batch.size());
      }
      batch.clear();
    }
    stats_.spooled.store(store_->waiting(), std::memory_order_relaxed);
    if (last) {
      const std::lock_guard lock(mutex_);
      if (queue_.empty()) return;  // rows queued during the final commit get one more pass
    }
  }
}

core::Expected<std::unique_ptr<LedgerReader>, std::string> open_ledger_reader(
    const config::LedgerConfig& config, const std::string& path_override) {
  if (config.postgres && path_override.empty()) {
    auto postgres = PostgresLedger::connect(config.postgres->url);
    if (!postgres) return core::Unexpected{postgres.error()};
    return std::unique_ptr<LedgerReader>(std::move(*postgres));
  }
  auto sqlite = SqliteLedger::open(path_override.empty() ? config.path : path_override);
  if (!sqlite) return core::Unexpected{sqlite.error()};
  return std::unique_ptr<LedgerReader>(std::move(*sqlite));
}

}  // namespace fulcrum::metering
