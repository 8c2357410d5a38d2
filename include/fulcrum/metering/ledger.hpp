#pragma once
// The durable usage ledger: one row per request that reached an upstream. Rows are queued
// without blocking the request path and committed in batches by one writer thread; on a
// hard kill at most one batch window of rows is lost.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/expected.hpp"
#include "fulcrum/core/money.hpp"

namespace fulcrum::metering {

struct LedgerRow {
  std::string request_id;
  std::int64_t started_ms = 0;  // Unix time, milliseconds
  std::int64_t finished_ms = 0;
  std::string key_id;  // never the key itself
  std::string team;
  std::string alias;
  std::string route;
  std::string slo_class;
  std::string endpoint;
  std::string endpoint_kind;
  std::string upstream_model;
  std::int64_t input_tokens = 0;  // includes cached
  std::int64_t cached_tokens = 0;
  std::int64_t output_tokens = 0;
  core::Money cost;
  core::Money amortized_cost;  // provisioned economics (a later issue); 0 until then
  double ttft_ms = -1;         // -1: no first byte
  double duration_ms = 0;
  unsigned status = 0;
  std::string outcome;
  unsigned attempts = 0;
  bool estimated = false;  // tokens estimated because the upstream reported no usage
};

enum class ExportFormat { csv, jsonl };

// Where rows are kept. SQLite is the embedded default; the seam lets tests (and a later
// PostgreSQL store) stand in.
class LedgerStore {
 public:
  virtual ~LedgerStore() = default;
  // Appends the rows in one transaction; false (and nothing written) on failure.
  virtual bool append(const std::vector<LedgerRow>& rows) = 0;
};

class SqliteLedger final : public LedgerStore {
 public:
  static constexpr int kSchemaVersion = 1;

  // Opens or creates the file (WAL mode) and migrates its schema to kSchemaVersion.
  static core::Expected<std::unique_ptr<SqliteLedger>, std::string> open(const std::string& path);
  ~SqliteLedger() override;

  bool append(const std::vector<LedgerRow>& rows) override;

  // Cost of the requests finished at or after `since_ms`; an empty key or team matches all.
  core::Money spent_since(std::int64_t since_ms, std::string_view key_id, std::string_view team);
  // Every row that started at or after `since_ms`, oldest first; returns the number written.
  std::size_t export_rows(std::int64_t since_ms, ExportFormat format, std::ostream& out);

 private:
  struct Db;
  explicit SqliteLedger(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

// Counters the ledger keeps; Metrics exposes them.
struct LedgerStats {
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> dropped{0};  // the queue was full
  std::atomic<std::uint64_t> failed{0};   // the store refused a batch
  std::atomic<std::uint64_t> queued{0};
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
