#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <ostream>
#include <span>

#include "fulcrum/metering/ledger.hpp"
#include "ledger_columns.hpp"

namespace fulcrum::metering {
namespace {

// Each entry moves the schema from version i to i + 1; never edit one that has shipped.
constexpr const char* kMigrations[] = {
    R"(CREATE TABLE requests (
         request_id TEXT NOT NULL,
         started_ms INTEGER NOT NULL,
         finished_ms INTEGER NOT NULL,
         key_id TEXT NOT NULL,
         team TEXT NOT NULL,
         alias TEXT NOT NULL,
         route TEXT NOT NULL,
         slo_class TEXT NOT NULL,
         endpoint TEXT NOT NULL,
         endpoint_kind TEXT NOT NULL,
         upstream_model TEXT NOT NULL,
         input_tokens INTEGER NOT NULL,
         cached_tokens INTEGER NOT NULL,
         output_tokens INTEGER NOT NULL,
         cost_nano_usd INTEGER NOT NULL,
         amortized_nano_usd INTEGER NOT NULL,
         ttft_ms REAL,
         duration_ms REAL NOT NULL,
         status INTEGER NOT NULL,
         outcome TEXT NOT NULL,
         attempts INTEGER NOT NULL,
         estimated INTEGER NOT NULL);
       CREATE INDEX requests_started ON requests (started_ms);)",
    // Version 2: every provider's usage in one shape (core::Usage). input_tokens keeps every
    // prompt token; cache writes and reasoning are parts of input and output, as cached is.
    R"(ALTER TABLE requests ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE requests ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;)",
    R"(ALTER TABLE requests ADD COLUMN queued_ms REAL NOT NULL DEFAULT 0;)",
};
static_assert(std::size(kMigrations) == SqliteLedger::kSchemaVersion);

// INSERT for `rows` rows of every ledger column, each a parameter.
std::string insert_sql(std::size_t rows) {
  std::string sql = "INSERT INTO requests (" + column_list() + ") VALUES ";
  for (std::size_t r = 0; r < rows; ++r) {
    sql += r == 0 ? "(?" : ",(?";
    for (std::size_t i = 1; i < kLedgerColumns.size(); ++i) sql += ",?";
    sql += ")";
  }
  return sql;
}

// Binds `rows` to `statement` (prepared for that many rows) and runs it.
bool insert_rows(sqlite3* db, sqlite3_stmt* statement, std::span<const LedgerRow> rows) {
  int at = 1;
  for (const LedgerRow& r : rows) {
    for (const Cell& cell : cells_of(r)) {
      if (const auto* text = std::get_if<std::string_view>(&cell)) {
        // An empty view may have no data pointer, which SQLite would store as NULL.
        sqlite3_bind_text(statement, at, text->empty() ? "" : text->data(),
                          static_cast<int>(text->size()), SQLITE_STATIC);
      } else if (const auto* integer = std::get_if<std::int64_t>(&cell)) {
        sqlite3_bind_int64(statement, at, *integer);
      } else if (const auto* real = std::get_if<double>(&cell)) {
        sqlite3_bind_double(statement, at, *real);
      } else {
        sqlite3_bind_null(statement, at);
      }
      ++at;
    }
  }
  // Every parameter is bound again for each run, so none needs clearing. Until then the
  // statement keeps pointers into rows already gone (SQLITE_STATIC); nothing reads them.
  const int rc = sqlite3_step(statement);
  sqlite3_reset(statement);
  if (rc == SQLITE_DONE) return true;
  spdlog::error("ledger_insert_failed error=\"{}\"", sqlite3_errmsg(db));
  return false;
}

// Rows per statement of the batch insert: a statement's fixed cost (its start, its halt, the
// cursors it opens) is a third of a one-row insert's, so a batch pays it once per this many
// rows.
constexpr std::size_t kRowsPerInsert = 16;
// Within the 999 parameters SQLite allowed before 3.32, let alone 3.40's 32,766.
static_assert(kLedgerColumns.size() * kRowsPerInsert <= 999);

}  // namespace

struct SqliteLedger::Db {
  sqlite3* handle = nullptr;
  sqlite3_stmt* insert = nullptr;       // one row
  sqlite3_stmt* insert_many = nullptr;  // kRowsPerInsert rows

  ~Db() {
    sqlite3_finalize(insert);
    sqlite3_finalize(insert_many);
    sqlite3_close_v2(handle);
  }
  bool exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(handle, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
    spdlog::error("ledger_sql_failed error=\"{}\"", message ? message : "unknown");
    sqlite3_free(message);
    return false;
  }
  std::string error() const { return sqlite3_errmsg(handle); }
};

SqliteLedger::SqliteLedger(std::unique_ptr<Db> db) : db_(std::move(db)) {}
SqliteLedger::~SqliteLedger() = default;

core::Expected<std::unique_ptr<SqliteLedger>, std::string> SqliteLedger::open(
    const std::string& path) {
  auto db = std::make_unique<Db>();
  // NOMUTEX: a connection is only ever used by one thread at a time (the ledger's writer,
  // or the reader that opened it), so SQLite's own lock around every call is pure cost.
  if (sqlite3_open_v2(path.c_str(), &db->handle,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return core::Unexpected{"cannot open ledger " + path + ": " + db->error()};
  }
  sqlite3_busy_timeout(db->handle, 5000);
  // WAL: readers (exports) never block the writer. NORMAL: a commit survives the process
  // being killed; only a power loss can take the last transactions.
  // cache_size (negative: KiB): appends touch only the right edge of each B-tree and scans
  // read each page once, so SQLite's default 2 MiB page cache would only grow a long-running
  // gateway's memory as the file grows (the soak test watches RSS).
  if (!db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-512;")) {
    return core::Unexpected{"cannot set up ledger " + path + ": " + db->error()};
  }
  int version = 0;
  sqlite3_stmt* query = nullptr;
  sqlite3_prepare_v2(db->handle, "PRAGMA user_version", -1, &query, nullptr);
  if (query != nullptr && sqlite3_step(query) == SQLITE_ROW) version = sqlite3_column_int(query, 0);
  sqlite3_finalize(query);
  if (version > kSchemaVersion) {
    return core::Unexpected{"ledger " + path + " has schema version " + std::to_string(version) +
                            ", newer than this Fulcrum knows (" + std::to_string(kSchemaVersion) +
                            ")"};
  }
  for (; version < kSchemaVersion; ++version) {
    const std::string step = std::string("BEGIN;") + kMigrations[version] +
                             "PRAGMA user_version=" + std::to_string(version + 1) + ";COMMIT;";
    if (!db->exec(step.c_str())) {
      db->exec("ROLLBACK;");
      return core::Unexpected{"cannot migrate ledger " + path + " to schema version " +
                              std::to_string(version + 1) + ": " + db->error()};
    }
  }
  if (sqlite3_prepare_v2(db->handle, insert_sql(1).c_str(), -1, &db->insert, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(db->handle, insert_sql(kRowsPerInsert).c_str(), -1, &db->insert_many,
                         nullptr) != SQLITE_OK) {
    return core::Unexpected{"cannot prepare ledger insert: " + db->error()};
  }
  return std::unique_ptr<SqliteLedger>(new SqliteLedger(std::move(db)));
}

bool SqliteLedger::append(const std::vector<LedgerRow>& rows) {
  if (!db_->exec("BEGIN")) return false;
  const std::span<const LedgerRow> all(rows);
  bool inserted = true;
  for (std::size_t done = 0; inserted && done < rows.size();) {
    const bool many = rows.size() - done >= kRowsPerInsert;
    const std::size_t count = many ? kRowsPerInsert : 1;
    inserted =
        insert_rows(db_->handle, many ? db_->insert_many : db_->insert, all.subspan(done, count));
    done += count;
  }
  if (inserted && db_->exec("COMMIT")) return true;
  // A transaction left open would make every later BEGIN fail: the ledger would stop.
  db_->exec("ROLLBACK");
  return false;
}

core::Money SqliteLedger::spent_since(std::int64_t since_ms, std::string_view key_id,
                                      std::string_view team) {
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db_->handle,
                     // The started_ms bound lets the index narrow the scan: no request
                     // outlives a day (timeouts.total is far shorter).
                     "SELECT COALESCE(SUM(cost_nano_usd), 0) FROM requests "
                     "WHERE started_ms >= ?1 - 86400000 AND finished_ms >= ?1 "
                     "AND (?2 = '' OR key_id = ?2) AND (?3 = '' OR team = ?3)",
                     -1, &q, nullptr);
  sqlite3_bind_int64(q, 1, since_ms);
  sqlite3_bind_text(q, 2, key_id.data(), static_cast<int>(key_id.size()), SQLITE_STATIC);
  sqlite3_bind_text(q, 3, team.data(), static_cast<int>(team.size()), SQLITE_STATIC);
  core::Money spent;
  if (sqlite3_step(q) == SQLITE_ROW) spent = core::Money{sqlite3_column_int64(q, 0)};
  sqlite3_finalize(q);
  return spent;
}

void SqliteLedger::for_each_usage(std::int64_t since_ms, std::int64_t until_ms,
                                  const std::function<void(const UsageRecord&)>& visit) {
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db_->handle,
                     "SELECT started_ms, alias, endpoint, endpoint_kind, input_tokens, "
                     "cached_tokens, output_tokens, cost_nano_usd, amortized_nano_usd, "
                     "cache_write_tokens, finished_ms, route, slo_class, outcome, ttft_ms, "
                     "duration_ms, queued_ms "
                     "FROM requests WHERE started_ms >= ?1 AND started_ms < ?2 "
                     "ORDER BY started_ms, rowid",
                     -1, &q, nullptr);
  sqlite3_bind_int64(q, 1, since_ms);
  sqlite3_bind_int64(q, 2, until_ms);
  const auto text = [q](int column) {
    const auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(q, column));
    return bytes
               ? std::string_view(bytes, static_cast<std::size_t>(sqlite3_column_bytes(q, column)))
               : std::string_view{};
  };
  while (sqlite3_step(q) == SQLITE_ROW) {
    UsageRecord r;
    r.started_ms = sqlite3_column_int64(q, 0);
    r.alias = text(1);
    r.endpoint = text(2);
    r.endpoint_kind = text(3);
    r.input_tokens = sqlite3_column_int64(q, 4);
    r.cached_tokens = sqlite3_column_int64(q, 5);
    r.output_tokens = sqlite3_column_int64(q, 6);
    r.cost = core::Money{sqlite3_column_int64(q, 7)};
    r.amortized = core::Money{sqlite3_column_int64(q, 8)};
    r.cache_write_tokens = sqlite3_column_int64(q, 9);
    r.finished_ms = sqlite3_column_int64(q, 10);
    r.route = text(11);
    r.slo_class = text(12);
    r.outcome = text(13);
    r.ttft_ms = sqlite3_column_type(q, 14) == SQLITE_NULL ? -1 : sqlite3_column_double(q, 14);
    r.duration_ms = sqlite3_column_double(q, 15);
    r.queued_ms = sqlite3_column_double(q, 16);
    visit(r);
  }
  sqlite3_finalize(q);
}

namespace {

// Column `c` of the current row of `q`, as a cell of its ledger type; texts are views into
// SQLite's buffer, valid until the next step.
Cell cell_at(sqlite3_stmt* q, int c) {
  if (sqlite3_column_type(q, c) == SQLITE_NULL) return std::monostate{};
  switch (kLedgerColumns[static_cast<std::size_t>(c)].type) {
    case ColumnType::integer:
      return static_cast<std::int64_t>(sqlite3_column_int64(q, c));
    case ColumnType::real:
      return sqlite3_column_double(q, c);
    case ColumnType::text:
      break;
  }
  const auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(q, c));
  return std::string_view(bytes, static_cast<std::size_t>(sqlite3_column_bytes(q, c)));
}

}  // namespace

std::size_t SqliteLedger::export_rows(std::int64_t since_ms, ExportFormat format,
                                      std::ostream& out) {
  sqlite3_stmt* q = nullptr;
  const std::string sql = "SELECT " + column_list() +
                          " FROM requests WHERE started_ms >= ?1 ORDER BY started_ms, rowid";
  sqlite3_prepare_v2(db_->handle, sql.c_str(), -1, &q, nullptr);
  sqlite3_bind_int64(q, 1, since_ms);
  RowExporter exporter(format, out);
  RowCells cells;
  while (sqlite3_step(q) == SQLITE_ROW) {
    for (std::size_t c = 0; c < cells.size(); ++c) cells[c] = cell_at(q, static_cast<int>(c));
    exporter.write(cells);
  }
  sqlite3_finalize(q);
  return exporter.rows();
}

std::size_t SqliteLedger::count() {
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db_->handle, "SELECT COUNT(*) FROM requests", -1, &q, nullptr);
  std::size_t rows = 0;
  if (sqlite3_step(q) == SQLITE_ROW) rows = static_cast<std::size_t>(sqlite3_column_int64(q, 0));
  sqlite3_finalize(q);
  return rows;
}

std::vector<StoredRow> SqliteLedger::oldest(std::size_t limit) {
  sqlite3_stmt* q = nullptr;
  const std::string sql =
      "SELECT " + column_list() + ", rowid FROM requests ORDER BY rowid LIMIT ?1";
  sqlite3_prepare_v2(db_->handle, sql.c_str(), -1, &q, nullptr);
  sqlite3_bind_int64(q, 1, static_cast<sqlite3_int64>(limit));
  std::vector<StoredRow> rows;
  while (sqlite3_step(q) == SQLITE_ROW) {
    StoredRow stored;
    stored.text = std::make_shared<std::vector<std::string>>();
    RowCells cells;
    for (std::size_t c = 0; c < cells.size(); ++c) cells[c] = cell_at(q, static_cast<int>(c));
    // The texts first, all of them, so that the views below stay valid.
    stored.text->reserve(cells.size());
    for (const Cell& cell : cells) {
      const auto* text = std::get_if<std::string_view>(&cell);
      stored.text->emplace_back(text ? *text : std::string_view{});
    }
    stored.row = row_of(cells, *stored.text);
    stored.row.keep_alive = stored.text;
    stored.id = sqlite3_column_int64(q, static_cast<int>(cells.size()));
    rows.push_back(std::move(stored));
  }
  sqlite3_finalize(q);
  return rows;
}

bool SqliteLedger::remove_through(std::int64_t last) {
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db_->handle, "DELETE FROM requests WHERE rowid <= ?1", -1, &q, nullptr);
  sqlite3_bind_int64(q, 1, last);
  const bool done = sqlite3_step(q) == SQLITE_DONE;
  sqlite3_finalize(q);
  return done;
}

}  // namespace fulcrum::metering
