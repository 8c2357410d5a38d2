#pragma once
// The ledger in PostgreSQL, shared by every replica (ledger.postgres). Same rows and schema
// version as the SQLite file. Batches go in as multi-row INSERTs that skip rows already
// there (a row is one request's at one endpoint at one finish time), so sending a batch again
// after a lost reply stores nothing twice. While PostgreSQL cannot take rows, they wait in a
// bounded SQLite spool (the file at ledger.path) and move over, oldest first, when it can.
// Everything here runs on the ledger's writer thread (or a CLI's), never a worker.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "fulcrum/core/expected.hpp"
#include "fulcrum/core/secret.hpp"
#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::metering {

class PostgresLedger final : public LedgerStore, public LedgerReader {
 public:
  static constexpr int kSchemaVersion = SqliteLedger::kSchemaVersion;

  // For the gateway: connects (and migrates) now if it can; if not, rows wait in `spool` (at
  // most `spool_rows`) and the connection is tried again at most once a second.
  static std::unique_ptr<PostgresLedger> open(const core::Secret& url,
                                              std::unique_ptr<SqliteLedger> spool,
                                              std::size_t spool_rows);
  // For reading (export, report, restoring budgets): connects and migrates now, or says why
  // it cannot.
  static core::Expected<std::unique_ptr<PostgresLedger>, std::string> connect(
      const core::Secret& url);
  ~PostgresLedger() override;

  bool append(const std::vector<LedgerRow>& rows) override;
  void idle() override;
  // Rows waiting in the spool.
  std::size_t spooled() const { return spooled_.load(std::memory_order_relaxed); }
  std::size_t waiting() const override { return spooled(); }

  core::Money spent_since(std::int64_t since_ms, std::string_view key_id,
                          std::string_view team) override;
  std::size_t export_rows(std::int64_t since_ms, ExportFormat format, std::ostream& out) override;
  void for_each_usage(std::int64_t since_ms, std::int64_t until_ms,
                      const std::function<void(const UsageRecord&)>& visit) override;
  bool complete() const override { return complete_; }

 private:
  struct Connection;
  PostgresLedger(const core::Secret& url, std::unique_ptr<SqliteLedger> spool,
                 std::size_t spool_rows);
  // Connected and migrated, or false (after at most one try a second).
  bool ready();
  bool insert(const std::vector<LedgerRow>& rows);
  bool drain_spool();
  bool to_spool(const std::vector<LedgerRow>& rows);

  std::unique_ptr<Connection> connection_;
  std::unique_ptr<SqliteLedger> spool_;
  const std::size_t spool_rows_;
  std::atomic<std::size_t> spooled_{0};
  bool complete_ = true;  // the last read's
  std::chrono::steady_clock::time_point retry_at_{};
};

}  // namespace fulcrum::metering
