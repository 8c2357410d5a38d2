#include "fulcrum/metering/postgres_ledger.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ledger_columns.hpp"
#include "libpq_api.hpp"

namespace fulcrum::metering {
namespace {

// Each entry moves the schema from version i to i + 1, as SQLite's do; never edit one that
// has shipped. The unique index is what makes a batch sent twice store its rows once.
constexpr const char* kMigrations[] = {
    R"(CREATE TABLE requests (
         id BIGINT GENERATED ALWAYS AS IDENTITY,
         request_id TEXT NOT NULL,
         started_ms BIGINT NOT NULL,
         finished_ms BIGINT NOT NULL,
         key_id TEXT NOT NULL,
         team TEXT NOT NULL,
         alias TEXT NOT NULL,
         route TEXT NOT NULL,
         slo_class TEXT NOT NULL,
         endpoint TEXT NOT NULL,
         endpoint_kind TEXT NOT NULL,
         upstream_model TEXT NOT NULL,
         input_tokens BIGINT NOT NULL,
         cached_tokens BIGINT NOT NULL,
         output_tokens BIGINT NOT NULL,
         cost_nano_usd BIGINT NOT NULL,
         amortized_nano_usd BIGINT NOT NULL,
         ttft_ms DOUBLE PRECISION,
         duration_ms DOUBLE PRECISION NOT NULL,
         status INTEGER NOT NULL,
         outcome TEXT NOT NULL,
         attempts INTEGER NOT NULL,
         estimated INTEGER NOT NULL);
       CREATE INDEX requests_started ON requests (started_ms);
       CREATE UNIQUE INDEX requests_once ON requests (request_id, endpoint, finished_ms);)",
    R"(ALTER TABLE requests ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
       ALTER TABLE requests ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;)",
    R"(ALTER TABLE requests ADD COLUMN queued_ms DOUBLE PRECISION NOT NULL DEFAULT 0;)",
};
static_assert(std::size(kMigrations) == PostgresLedger::kSchemaVersion);

// Replicas starting together migrate one at a time.
constexpr const char* kMigrationLock = "SELECT pg_advisory_lock(7306531770)";
constexpr const char* kMigrationUnlock = "SELECT pg_advisory_unlock(7306531770)";

constexpr std::size_t kRowsPerInsert = 500;  // 500 x 25 parameters, well under 65535
constexpr auto kRetryEvery = std::chrono::seconds(1);
constexpr std::size_t kSpoolBatchesPerCall = 20;  // 10,000 rows

struct Result {
  explicit Result(PGresult* r) : result(r) {}
  ~Result() { libpq().PQclear(result); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  bool ok() const {
    const auto status = libpq().PQresultStatus(result);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_SINGLE_TUPLE;
  }
  PGresult* result;
};

std::int64_t to_int64(const char* text) {
  std::int64_t value = 0;
  std::from_chars(text, text + std::strlen(text), value);
  return value;
}

}  // namespace

struct PostgresLedger::Connection {
  explicit Connection(std::string u) : url(std::move(u)) {}
  ~Connection() { close(); }

  std::string url;
  PGconn* conn = nullptr;
  std::string error;  // the last failure, for the log (libpq's messages carry no password)

  void close() {
    if (conn != nullptr) libpq().PQfinish(std::exchange(conn, nullptr));
  }
  bool alive() const { return conn != nullptr && libpq().PQstatus(conn) == CONNECTION_OK; }

  bool exec(const char* sql) {
    const Result r(libpq().PQexec(conn, sql));
    if (r.ok()) return true;
    error = libpq().PQerrorMessage(conn);
    return false;
  }

  // The writer's connection (migrating the schema) or a reader's (checking it only: a
  // reporting role may not create tables).
  bool connect(bool writer) {
    close();
    // A PostgreSQL that does not answer costs the writer thread seconds, never the request
    // path: connect_timeout for connecting; on the client side, TCP keepalives and a user
    // timeout notice a server gone silent (a network partition) in about ten seconds, where
    // the kernel's retransmissions alone would wait many minutes. The server's
    // statement_timeout bounds a stuck insert; readers have none, so an export of a large
    // ledger is not cut short.
    const char* keys[] = {"dbname",           "connect_timeout",
                          "application_name", "keepalives",
                          "keepalives_idle",  "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout",
                          "options",          nullptr};
    const char* values[] = {
        url.c_str(), "3",     "fulcrum",
        "1",         "5",     "2",
        "3",         "10000", writer ? "-c statement_timeout=10000" : "-c statement_timeout=0",
        nullptr};
    if (load_libpq(error) == nullptr) return false;
    conn = libpq().PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (libpq().PQstatus(conn) != CONNECTION_OK) {
      error = libpq().PQerrorMessage(conn);
      close();
      return false;
    }
    return writer ? migrate() : check_schema();
  }

  bool check_schema() {
    const Result r(libpq().PQexec(conn, "SELECT version FROM fulcrum_schema"));
    if (!r.ok() || libpq().PQntuples(r.result) == 0) {
      error = "the database has no Fulcrum ledger yet (a gateway creates it when it starts)";
      close();
      return false;
    }
    const int version = std::atoi(libpq().PQgetvalue(r.result, 0, 0));
    if (version != kSchemaVersion) {
      error = "the ledger has schema version " + std::to_string(version) + "; this Fulcrum reads " +
              std::to_string(kSchemaVersion);
      close();
      return false;
    }
    return true;
  }

  bool migrate() {
    if (!exec(kMigrationLock)) return false;
    bool ok = exec("CREATE TABLE IF NOT EXISTS fulcrum_schema (version INTEGER NOT NULL)");
    int version = 0;
    if (ok) {
      const Result r(libpq().PQexec(conn, "SELECT version FROM fulcrum_schema"));
      ok = r.ok();
      if (ok && libpq().PQntuples(r.result) > 0)
        version = std::atoi(libpq().PQgetvalue(r.result, 0, 0));
      if (ok && libpq().PQntuples(r.result) == 0)
        ok = exec("INSERT INTO fulcrum_schema VALUES (0)");
    }
    if (ok && version > kSchemaVersion) {
      error = "the ledger has schema version " + std::to_string(version) +
              ", newer than this Fulcrum knows (" + std::to_string(kSchemaVersion) + ")";
      ok = false;
    }
    for (; ok && version < kSchemaVersion; ++version) {
      const std::string step =
          std::string("BEGIN;") + kMigrations[version] +
          ";UPDATE fulcrum_schema SET version = " + std::to_string(version + 1) + ";COMMIT;";
      ok = exec(step.c_str());
      if (!ok) exec("ROLLBACK");
    }
    const std::string failure = error;
    exec(kMigrationUnlock);
    error = failure;
    if (!ok) close();
    return ok;
  }
};

PostgresLedger::PostgresLedger(const core::Secret& url, std::unique_ptr<SqliteLedger> spool,
                               std::size_t spool_rows)
    : connection_(std::make_unique<Connection>(std::string(url.reveal()))),
      spool_(std::move(spool)),
      spool_rows_(spool_rows) {
  if (spool_) spooled_ = spool_->count();
}

PostgresLedger::~PostgresLedger() = default;

std::unique_ptr<PostgresLedger> PostgresLedger::open(const core::Secret& url,
                                                     std::unique_ptr<SqliteLedger> spool,
                                                     std::size_t spool_rows) {
  std::unique_ptr<PostgresLedger> ledger(new PostgresLedger(url, std::move(spool), spool_rows));
  if (!ledger->ready()) {
    spdlog::warn("ledger_postgres_unavailable error=\"{}\" spooled={}: rows wait in the spool",
                 ledger->connection_->error, ledger->spooled());
  } else if (ledger->spooled() > 0) {
    ledger->drain_spool();
  }
  return ledger;
}

core::Expected<std::unique_ptr<PostgresLedger>, std::string> PostgresLedger::connect(
    const core::Secret& url) {
  std::unique_ptr<PostgresLedger> ledger(new PostgresLedger(url, nullptr, 0));
  if (!ledger->connection_->connect(/*writer=*/false)) {
    return core::Unexpected{"cannot use the PostgreSQL ledger: " + ledger->connection_->error};
  }
  return ledger;
}

bool PostgresLedger::ready() {
  if (connection_->alive()) return true;
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) return false;
  retry_at_ = now + kRetryEvery;
  if (connection_->connect(/*writer=*/spool_ != nullptr)) {
    spdlog::info("ledger_postgres_connected spooled={}", spooled());
    return true;
  }
  return false;
}

bool PostgresLedger::insert(const std::vector<LedgerRow>& rows) {
  if (!ready()) return false;
  const std::string columns = column_list();
  bool ok = connection_->exec("BEGIN");
  for (std::size_t first = 0; ok && first < rows.size(); first += kRowsPerInsert) {
    const std::size_t count = std::min(kRowsPerInsert, rows.size() - first);
    std::string sql = "INSERT INTO requests (" + columns + ") VALUES ";
    std::vector<std::string> storage;
    std::vector<const char*> values;
    // Reserved whole: no string moves once a pointer to it is taken.
    storage.reserve(count * kLedgerColumns.size());
    values.reserve(count * kLedgerColumns.size());
    int parameter = 0;
    for (std::size_t i = 0; i < count; ++i) {
      sql += i ? ",(" : "(";
      const RowCells cells = cells_of(rows[first + i]);
      for (std::size_t c = 0; c < cells.size(); ++c) {
        sql += (c ? ",$" : "$") + std::to_string(++parameter);
        if (const auto* text = std::get_if<std::string_view>(&cells[c])) {
          storage.emplace_back(*text);
        } else if (const auto* integer = std::get_if<std::int64_t>(&cells[c])) {
          storage.push_back(std::to_string(*integer));
        } else if (const auto* real = std::get_if<double>(&cells[c])) {
          char digits[32];
          std::snprintf(digits, sizeof digits, "%.17g", *real);
          storage.emplace_back(digits);
        } else {
          storage.emplace_back();
        }
        values.push_back(std::holds_alternative<std::monostate>(cells[c]) ? nullptr
                                                                          : storage.back().c_str());
      }
      sql += ")";
    }
    sql += " ON CONFLICT (request_id, endpoint, finished_ms) DO NOTHING";
    const Result r(libpq().PQexecParams(connection_->conn, sql.c_str(), parameter, nullptr,
                                        values.data(), nullptr, nullptr, 0));
    ok = r.ok();
    if (!ok) connection_->error = libpq().PQerrorMessage(connection_->conn);
  }
  ok = ok && connection_->exec("COMMIT");
  if (!ok) {
    spdlog::warn("ledger_postgres_insert_failed rows={} error=\"{}\"", rows.size(),
                 connection_->error);
    if (connection_->alive()) {
      connection_->exec("ROLLBACK");
    } else {
      connection_->close();
    }
  }
  return ok;
}

bool PostgresLedger::to_spool(const std::vector<LedgerRow>& rows) {
  if (!spool_ || spooled() + rows.size() > spool_rows_) {
    spdlog::error("ledger_spool_full rows={} spooled={} spool_rows={}: rows dropped", rows.size(),
                  spooled(), spool_rows_);
    return false;
  }
  if (!spool_->append(rows)) return false;
  spooled_.fetch_add(rows.size(), std::memory_order_relaxed);
  return true;
}

bool PostgresLedger::drain_spool() {
  // A bounded part per call, so that the writer gets back to the rows queued meanwhile; a
  // long outage's spool drains over successive batch windows.
  for (std::size_t batch = 0; batch < kSpoolBatchesPerCall && spooled() > 0; ++batch) {
    const std::vector<StoredRow> stored = spool_->oldest(kRowsPerInsert);
    if (stored.empty()) {
      spooled_ = 0;
      break;
    }
    std::vector<LedgerRow> rows;
    rows.reserve(stored.size());
    for (const StoredRow& s : stored) rows.push_back(s.row);
    // Inserted, then removed: a crash between the two sends them again, and the unique index
    // keeps them once.
    if (!insert(rows) || !spool_->remove_through(stored.back().id)) return false;
    spooled_.fetch_sub(std::min(spooled(), stored.size()), std::memory_order_relaxed);
    spdlog::info("ledger_spool_drained rows={} left={}", stored.size(), spooled());
  }
  return spooled() == 0;
}

bool PostgresLedger::append(const std::vector<LedgerRow>& rows) {
  // Oldest first: what waits in the spool goes before the new rows.
  if (spooled() == 0 || drain_spool()) {
    if (insert(rows)) return true;
  }
  return to_spool(rows);
}

void PostgresLedger::idle() {
  if (spooled() > 0 && (connection_->alive() || std::chrono::steady_clock::now() >= retry_at_)) {
    drain_spool();
  }
}

core::Money PostgresLedger::spent_since(std::int64_t since_ms, std::string_view key_id,
                                        std::string_view team) {
  if (!ready()) return core::Money{};
  const std::string since = std::to_string(since_ms);
  const std::string key(key_id);
  const std::string team_name(team);
  const char* values[] = {since.c_str(), key.c_str(), team_name.c_str()};
  const Result r(
      libpq().PQexecParams(connection_->conn,
                           "SELECT COALESCE(SUM(cost_nano_usd), 0) FROM requests "
                           "WHERE started_ms >= $1::bigint - 86400000 AND finished_ms >= "
                           "$1::bigint AND ($2 = '' OR key_id = $2) AND ($3 = '' OR team = $3)",
                           3, nullptr, values, nullptr, nullptr, 0));
  if (!r.ok() || libpq().PQntuples(r.result) == 0) return core::Money{};
  return core::Money{to_int64(libpq().PQgetvalue(r.result, 0, 0))};
}

namespace {

// Streams the rows of a query one at a time (libpq's single-row mode), so an export of a
// large ledger does not hold it all in memory.
template <class Visit>
bool stream_rows(PGconn* conn, const std::string& sql, const std::vector<std::string>& params,
                 Visit visit) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  if (libpq().PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                values.data(), nullptr, nullptr, 0) != 1) {
    return false;
  }
  libpq().PQsetSingleRowMode(conn);
  bool ok = true;
  while (PGresult* raw = libpq().PQgetResult(conn)) {
    const Result r(raw);
    if (libpq().PQresultStatus(raw) == PGRES_SINGLE_TUPLE) {
      visit(raw);
    } else if (!r.ok()) {
      spdlog::error("ledger_postgres_query_failed error=\"{}\"", libpq().PQerrorMessage(conn));
      ok = false;
    }
  }
  return ok;
}

}  // namespace

void PostgresLedger::for_each_usage(std::int64_t since_ms, std::int64_t until_ms,
                                    const std::function<void(const UsageRecord&)>& visit) {
  complete_ = ready();
  if (!complete_) return;
  complete_ =
      stream_rows(connection_->conn,
                  "SELECT started_ms, alias, endpoint, endpoint_kind, input_tokens, cached_tokens, "
                  "output_tokens, cost_nano_usd, amortized_nano_usd, cache_write_tokens, "
                  "finished_ms, route, slo_class, outcome, ttft_ms, duration_ms, queued_ms "
                  "FROM requests WHERE started_ms >= $1::bigint AND started_ms < $2::bigint "
                  "ORDER BY started_ms, id",
                  {std::to_string(since_ms), std::to_string(until_ms)}, [&](PGresult* row) {
                    UsageRecord r;
                    r.started_ms = to_int64(libpq().PQgetvalue(row, 0, 0));
                    r.alias = libpq().PQgetvalue(row, 0, 1);
                    r.endpoint = libpq().PQgetvalue(row, 0, 2);
                    r.endpoint_kind = libpq().PQgetvalue(row, 0, 3);
                    r.input_tokens = to_int64(libpq().PQgetvalue(row, 0, 4));
                    r.cached_tokens = to_int64(libpq().PQgetvalue(row, 0, 5));
                    r.output_tokens = to_int64(libpq().PQgetvalue(row, 0, 6));
                    r.cost = core::Money{to_int64(libpq().PQgetvalue(row, 0, 7))};
                    r.amortized = core::Money{to_int64(libpq().PQgetvalue(row, 0, 8))};
                    r.cache_write_tokens = to_int64(libpq().PQgetvalue(row, 0, 9));
                    r.finished_ms = to_int64(libpq().PQgetvalue(row, 0, 10));
                    r.route = libpq().PQgetvalue(row, 0, 11);
                    r.slo_class = libpq().PQgetvalue(row, 0, 12);
                    r.outcome = libpq().PQgetvalue(row, 0, 13);
                    r.ttft_ms = libpq().PQgetisnull(row, 0, 14)
                                    ? -1
                                    : std::strtod(libpq().PQgetvalue(row, 0, 14), nullptr);
                    r.duration_ms = std::strtod(libpq().PQgetvalue(row, 0, 15), nullptr);
                    r.queued_ms = std::strtod(libpq().PQgetvalue(row, 0, 16), nullptr);
                    visit(r);
                  });
}

std::size_t PostgresLedger::export_rows(std::int64_t since_ms, ExportFormat format,
                                        std::ostream& out) {
  RowExporter exporter(format, out);
  complete_ = ready();
  if (!complete_) return 0;
  RowCells cells;
  complete_ =
      stream_rows(connection_->conn,
                  "SELECT " + column_list() +
                      " FROM requests WHERE started_ms >= $1::bigint ORDER BY started_ms, id",
                  {std::to_string(since_ms)}, [&](PGresult* row) {
                    for (std::size_t c = 0; c < cells.size(); ++c) {
                      const int column = static_cast<int>(c);
                      if (libpq().PQgetisnull(row, 0, column)) {
                        cells[c] = std::monostate{};
                        continue;
                      }
                      const char* text = libpq().PQgetvalue(row, 0, column);
                      switch (kLedgerColumns[c].type) {
                        case ColumnType::integer:
                          cells[c] = to_int64(text);
                          break;
                        case ColumnType::real:
                          cells[c] = std::strtod(text, nullptr);
                          break;
                        case ColumnType::text:
                          cells[c] = std::string_view(text);
                          break;
                      }
                    }
                    exporter.write(cells);
                  });
  return exporter.rows();
}

}  // namespace fulcrum::metering
