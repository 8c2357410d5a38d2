#pragma once
// The breakeven report (metering/breakeven.hpp) rendered: stable JSON for programs
// (`fulcrum report --format json`, GET /admin/report), a text table, or one self-contained HTML
// page with inline SVG charts (no scripts, no network).
#include <string>

#include "fulcrum/metering/breakeven.hpp"

namespace fulcrum::report {

// Schema "fulcrum.report/v1": fields are only ever added.
std::string report_json(const metering::Report& report);

std::string report_text(const metering::Report& report);
std::string report_html(const metering::Report& report);

// "$1,234.56"; "$0.0042" below a dollar.
std::string usd(double amount);
// "1.10 B", "657 M", "12.5 k".
std::string tokens(double count);
// "2026-11-01 00:00 UTC".
std::string utc_time(std::int64_t unix_ms);
// Why a deployed unit's actual differs from the sum of its aliases' views; "" when it does not.
std::string reconciliation(const metering::Analysis& unit);
// "71.7%" of a ratio 0.717.
std::string percent(double ratio);

}  // namespace fulcrum::report
