#pragma once
// The ledger's columns, in the order both stores (SQLite and PostgreSQL) keep and export
// them, and the export writer they share, so that `fulcrum ledger export` prints the same
// bytes from either.
#include <array>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fulcrum/metering/ledger.hpp"

namespace fulcrum::metering {

enum class ColumnType { text, integer, real };

struct LedgerColumn {
  const char* name;
  ColumnType type;
};

inline constexpr std::array<LedgerColumn, 25> kLedgerColumns{{
    {"request_id", ColumnType::text},
    {"started_ms", ColumnType::integer},
    {"finished_ms", ColumnType::integer},
    {"key_id", ColumnType::text},
    {"team", ColumnType::text},
    {"alias", ColumnType::text},
    {"route", ColumnType::text},
    {"slo_class", ColumnType::text},
    {"endpoint", ColumnType::text},
    {"endpoint_kind", ColumnType::text},
    {"upstream_model", ColumnType::text},
    {"input_tokens", ColumnType::integer},
    {"cached_tokens", ColumnType::integer},
    {"output_tokens", ColumnType::integer},
    {"cost_nano_usd", ColumnType::integer},
    {"amortized_nano_usd", ColumnType::integer},
    {"ttft_ms", ColumnType::real},
    {"duration_ms", ColumnType::real},
    {"status", ColumnType::integer},
    {"outcome", ColumnType::text},
    {"attempts", ColumnType::integer},
    {"estimated", ColumnType::integer},
    {"cache_write_tokens", ColumnType::integer},
    {"reasoning_tokens", ColumnType::integer},
    {"queued_ms", ColumnType::real},
}};

// "request_id, started_ms, ...": every column, for SELECT and INSERT.
std::string column_list();

// One value of a row: NULL (ttft_ms of a request that got no first byte), or its type's.
using Cell = std::variant<std::monostate, std::int64_t, double, std::string_view>;
using RowCells = std::array<Cell, kLedgerColumns.size()>;

// A row as cells, in column order (views into `row`).
RowCells cells_of(const LedgerRow& row);

// The row `cells` describe, with its texts viewing `texts` (by column; entries of columns
// that are not text are ignored), which must outlive it.
LedgerRow row_of(const RowCells& cells, const std::vector<std::string>& texts);

// Writes rows as CSV (with a header line) or JSON lines.
class RowExporter {
 public:
  RowExporter(ExportFormat format, std::ostream& out);
  void write(const RowCells& cells);
  std::size_t rows() const { return rows_; }

 private:
  ExportFormat format_;
  std::ostream& out_;
  std::size_t rows_ = 0;
};

}  // namespace fulcrum::metering
