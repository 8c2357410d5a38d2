#include "ledger_columns.hpp"

#include <nlohmann/json.hpp>
#include <ostream>

namespace fulcrum::metering {
namespace {

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string column_list() {
  std::string list;
  for (const LedgerColumn& column : kLedgerColumns) {
    if (!list.empty()) list += ", ";
    list += column.name;
  }
  return list;
}

RowCells cells_of(const LedgerRow& r) {
  return RowCells{r.request_id(),
                  r.started_ms,
                  r.finished_ms,
                  r.key_id,
                  r.team,
                  r.alias,
                  r.route,
                  r.slo_class,
                  r.endpoint,
                  r.endpoint_kind,
                  r.upstream_model,
                  r.input_tokens,
                  r.cached_tokens,
                  r.output_tokens,
                  r.cost.nano_usd,
                  r.amortized_cost.nano_usd,
                  r.ttft_ms >= 0 ? Cell(r.ttft_ms) : Cell(std::monostate{}),
                  r.duration_ms,
                  static_cast<std::int64_t>(r.status),
                  r.outcome,
                  static_cast<std::int64_t>(r.attempts),
                  static_cast<std::int64_t>(r.estimated ? 1 : 0),
                  r.cache_write_tokens,
                  r.reasoning_tokens,
                  r.queued_ms};
}

LedgerRow row_of(const RowCells& cells, const std::vector<std::string>& texts) {
  const auto integer = [&](std::size_t c) {
    const auto* value = std::get_if<std::int64_t>(&cells[c]);
    return value ? *value : 0;
  };
  const auto real = [&](std::size_t c, double otherwise) {
    const auto* value = std::get_if<double>(&cells[c]);
    return value ? *value : otherwise;
  };
  const auto text = [&](std::size_t c) { return std::string_view(texts[c]); };
  LedgerRow r;
  r.set_request_id(text(0));
  r.started_ms = integer(1);
  r.finished_ms = integer(2);
  r.key_id = text(3);
  r.team = text(4);
  r.alias = text(5);
  r.route = text(6);
  r.slo_class = text(7);
  r.endpoint = text(8);
  r.endpoint_kind = text(9);
  r.upstream_model = text(10);
  r.input_tokens = integer(11);
  r.cached_tokens = integer(12);
  r.output_tokens = integer(13);
  r.cost = core::Money{integer(14)};
  r.amortized_cost = core::Money{integer(15)};
  r.ttft_ms = real(16, -1);
  r.duration_ms = real(17, 0);
  r.status = static_cast<unsigned>(integer(18));
  r.outcome = text(19);
  r.attempts = static_cast<unsigned>(integer(20));
  r.estimated = integer(21) != 0;
  r.cache_write_tokens = integer(22);
  r.reasoning_tokens = integer(23);
  r.queued_ms = real(24, 0);
  return r;
}

RowExporter::RowExporter(ExportFormat format, std::ostream& out) : format_(format), out_(out) {
  if (format_ != ExportFormat::csv) return;
  bool first = true;
  for (const LedgerColumn& column : kLedgerColumns) {
    out_ << (first ? "" : ",") << column.name;
    first = false;
  }
  out_ << '\n';
}

void RowExporter::write(const RowCells& cells) {
  ++rows_;
  if (format_ == ExportFormat::csv) {
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (c) out_ << ',';
      if (const auto* text = std::get_if<std::string_view>(&cells[c])) {
        out_ << csv_field(*text);
      } else if (const auto* integer = std::get_if<std::int64_t>(&cells[c])) {
        out_ << *integer;
      } else if (const auto* real = std::get_if<double>(&cells[c])) {
        // As SQLite prints a REAL: shortest form that reads back the same.
        out_ << nlohmann::json(*real).dump();
      }
    }
    out_ << '\n';
    return;
  }
  nlohmann::json row = nlohmann::json::object();
  for (std::size_t c = 0; c < cells.size(); ++c) {
    const char* name = kLedgerColumns[c].name;
    if (const auto* text = std::get_if<std::string_view>(&cells[c])) {
      row[name] = std::string(*text);
    } else if (const auto* integer = std::get_if<std::int64_t>(&cells[c])) {
      row[name] = *integer;
    } else if (const auto* real = std::get_if<double>(&cells[c])) {
      row[name] = *real;
    } else {
      row[name] = nullptr;
    }
  }
  out_ << row.dump() << '\n';
}

}  // namespace fulcrum::metering
