#pragma once
// The durable usage ledger: one row per request that reached an upstream. Rows are queued
// without blocking the request path and committed in batches by one writer thread; on a
// hard kill at most one batch window of rows is lost.
#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/expected.hpp"
#include "fulcrum/core/money.hpp"

namespace fulcrum::metering {

// Built on the request path without allocating: the texts point into the configuration
// snapshot, which `keep_alive` holds until the row is written.
struct LedgerRow {
  std::shared_ptr<const void> keep_alive;
  std::array<char, 32> request_id_text{};
  std::size_t request_id_size = 0;
  std::int64_t started_ms = 0;  // Unix time, milliseconds
  std::int64_t finished_ms = 0;
  std::string_view key_id;  // never the key itself
  std::string_view team;
  std::string_view alias;
  std::string_view route;
  std::string_view slo_class;
  std::string_view endpoint;
  std::string_view endpoint_kind;
  std::string_view upstream_model;
  std::int64_t input_tokens = 0;        // every prompt token (core::Usage::input)
  std::int64_t cached_tokens = 0;       // of which read from the prompt cache
  std::int64_t cache_write_tokens = 0;  // of which written to the prompt cache
  std::int64_t output_tokens = 0;       // reasoning included
  std::int64_t reasoning_tokens = 0;    // of which reasoning
  core::Money cost;
  core::Money amortized_cost;  // what the request is charged (provisioned: its amortized share)
  double ttft_ms = -1;         // -1: no first byte
  double duration_ms = 0;
  unsigned status = 0;
  std::string_view outcome;
  unsigned attempts = 0;
  bool estimated = false;  // tokens estimated because the upstream reported no usage
  // Of ttft_ms, the time it waited in Fulcrum for a provisioned slot (its queue).
  double queued_ms = 0;

  std::string_view request_id() const { return {request_id_text.data(), request_id_size}; }
  void set_request_id(std::string_view id) {
    request_id_size = std::min(id.size(), request_id_text.size());
    std::copy_n(id.data(), request_id_size, request_id_text.data());
  }
};

enum class ExportFormat { csv, jsonl };

// What the breakeven report and the replay read of a ledger row. The views live for one
// callback.
struct UsageRecord {
  std::int64_t started_ms = 0;
  std::string_view alias;
  std::string_view endpoint;
  std::string_view endpoint_kind;
  std::int64_t input_tokens = 0;  // every prompt token
  std::int64_t cached_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t output_tokens = 0;
  core::Money cost;       // marginal
  core::Money amortized;  // charged
  // How it went, for the replay: its class, when it ended, what the client saw.
  std::int64_t finished_ms = 0;
  std::string_view route;
  std::string_view slo_class;
  std::string_view outcome;
  double ttft_ms = -1;  // -1: no first byte
  double duration_ms = 0;
  double queued_ms = 0;  // of ttft_ms, waited in Fulcrum's queue for a provisioned slot
};

// Where rows are kept: SQLite (embedded, the default) or PostgreSQL (shared by replicas).
class LedgerStore {
 public:
  virtual ~LedgerStore() = default;
  // Appends the rows in one transaction; false (and nothing written) on failure.
  virtual bool append(const std::vector<LedgerRow>& rows) = 0;
  // Called by the writer when a batch window passed with no rows: a store with rows waiting
  // elsewhere (PostgreSQL's spool) may move them now.
  virtual void idle() {}
  // Rows kept aside until the store proper can take them (PostgreSQL's spool).
  virtual std::size_t waiting() const { return 0; }
};

// What `fulcrum ledger export`, `fulcrum report`, /admin/report and the budgets' restore read,
// from either store.
class LedgerReader {
 public:
  virtual ~LedgerReader() = default;
  // Cost of the requests finished at or after `since_ms`; an empty key or team matches all.
  virtual core::Money spent_since(std::int64_t since_ms, std::string_view key_id,
                                  std::string_view team) = 0;
  // Every row that started at or after `since_ms`, oldest first; returns the number written.
  virtual std::size_t export_rows(std::int64_t since_ms, ExportFormat format,
                                  std::ostream& out) = 0;
  // Calls `visit` for every row that started in [since_ms, until_ms), oldest first.
  virtual void for_each_usage(std::int64_t since_ms, std::int64_t until_ms,
                              const std::function<void(const UsageRecord&)>& visit) = 0;
  // Whether the last export or walk saw every row it asked for: a database that stopped
  // answering part-way leaves it short, and an export or a report of it must say so.
  virtual bool complete() const { return true; }
};

// A row read back whole (from PostgreSQL's spool): `row`'s views point into `text`.
struct StoredRow {
  std::int64_t id = 0;  // the store's own row id
  std::shared_ptr<std::vector<std::string>> text;
  LedgerRow row;
};

class SqliteLedger final : public LedgerStore, public LedgerReader {
 public:
  static constexpr int kSchemaVersion = 3;

  // Opens or creates the file (WAL mode) and migrates its schema to kSchemaVersion.
  static core::Expected<std::unique_ptr<SqliteLedger>, std::string> open(const std::string& path);
  ~SqliteLedger() override;

  bool append(const std::vector<LedgerRow>& rows) override;

  core::Money spent_since(std::int64_t since_ms, std::string_view key_id,
                          std::string_view team) override;
  std::size_t export_rows(std::int64_t since_ms, ExportFormat format, std::ostream& out) override;
  void for_each_usage(std::int64_t since_ms, std::int64_t until_ms,
                      const std::function<void(const UsageRecord&)>& visit) override;

  // As a spool: how many rows it holds, the oldest `limit` of them, and deleting rows up to
  // and including id `last` once they are safely elsewhere.
  std::size_t count();
  std::vector<StoredRow> oldest(std::size_t limit);
  bool remove_through(std::int64_t last);

 private:
  struct Db;
  explicit SqliteLedger(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

// The ledger `config` names, for reading: PostgreSQL when ledger.postgres is set, else the
// SQLite file at ledger.path (`path_override` instead, when not empty).
core::Expected<std::unique_ptr<LedgerReader>, std::string> open_ledger_reader(
    const config::LedgerConfig& config, const std::string& path_override = "");

// Counters the ledger keeps; Metrics exposes them.
struct LedgerStats {
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> dropped{0};  // the queue was full
  std::atomic<std::uint64_t> failed{0};   // the store refused a batch
  std::atomic<std::uint64_t> queued{0};
  std::atomic<std::uint64_t> spooled{0};  // LedgerStore::waiting()
};

class Ledger {
 public:
  Ledger(std::unique_ptr<LedgerStore> store, const config::LedgerConfig& config);
  ~Ledger();  // close()
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Queues a row; false when the queue is full and the row was dropped (counted and logged).
  bool record(LedgerRow row);
  // Commits everything queued and stops the writer. Idempotent.
  void close();

  const LedgerStats& stats() const { return stats_; }

 private:
  void run();

  std::unique_ptr<LedgerStore> store_;
  const config::LedgerConfig config_;
  LedgerStats stats_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<LedgerRow> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace fulcrum::metering
