#include "fulcrum/core/time_zone.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace fulcrum::core {
namespace {

std::int64_t read_be(const unsigned char* p, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  if (bytes == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(value));
  return static_cast<std::int64_t>(value);
}

bool is_safe_zone_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+';
  });
}

}  // namespace

constexpr std::uintmax_t kMaxTzifBytes = 1u << 20;  // real ones are a few KiB

std::optional<TimeZone> TimeZone::load(const std::string& name, const std::string& root) {
  if (name == "UTC" || name == "Etc/UTC") return TimeZone{};
  if (!is_safe_zone_name(name)) return std::nullopt;
  // A regular file of TZif size: "Europe" names a directory, which must be "no such zone",
  // not an exception from the stream (found by the config fuzzer).
  const std::string path = root + "/" + name;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) ||
      std::filesystem::file_size(path, ec) > kMaxTzifBytes || ec) {
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::vector<unsigned char> file{std::istreambuf_iterator<char>(in), {}};

  // RFC 8536: a v1 block with 32-bit times, then (v2+) the same with 64-bit times.
  constexpr std::size_t kHeader = 44;
  const auto parse_block = [&](std::size_t at, int time_bytes, TimeZone& zone) -> std::size_t {
    if (file.size() < at + kHeader ||
        std::string(file.begin() + at, file.begin() + at + 4) != "TZif")
      return 0;
    const unsigned char* h = file.data() + at + 20;
    const auto isutcnt = read_be(h, 4), isstdcnt = read_be(h + 4, 4), leapcnt = read_be(h + 8, 4),
               timecnt = read_be(h + 12, 4), typecnt = read_be(h + 16, 4),
               charcnt = read_be(h + 20, 4);
    if (typecnt <= 0 || timecnt < 0) return 0;
    const std::size_t data = at + kHeader;
    const std::size_t size = timecnt * time_bytes + timecnt + typecnt * 6 + charcnt +
                             leapcnt * (time_bytes + 4) + isstdcnt + isutcnt;
    if (file.size() < data + size) return 0;
    const unsigned char* times = file.data() + data;
    const unsigned char* indexes = times + timecnt * time_bytes;
    const unsigned char* types = indexes + timecnt;
    const auto offset_of = [&](std::size_t type) {
      return static_cast<std::int32_t>(read_be(types + 6 * type, 4));
    };
    zone.transitions_.clear();
    zone.offset_after_.clear();
    for (std::int64_t i = 0; i < timecnt; ++i) {
      if (indexes[i] >= typecnt) return 0;
      zone.transitions_.push_back(read_be(times + i * time_bytes, time_bytes));
      zone.offset_after_.push_back(offset_of(indexes[i]));
    }
    zone.initial_offset_ = offset_of(0);
    return data + size;
  };

  TimeZone zone;
  zone.name_ = name;
  const std::size_t v1_end = parse_block(0, 4, zone);
  if (v1_end == 0) return std::nullopt;
  if (file[4] >= '2' && parse_block(v1_end, 8, zone) == 0) return std::nullopt;
  if (!std::is_sorted(zone.transitions_.begin(), zone.transitions_.end())) return std::nullopt;
  return zone;
}

std::int64_t days_from_civil(int year, int month, int day) {
  const std::int64_t y = year - (month <= 2 ? 1 : 0);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::int32_t TimeZone::offset_at(WallTime when) const {
  const std::int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
  // Beyond the last transition (2037 in Debian's data) the last offset holds.
  const auto after = std::upper_bound(transitions_.begin(), transitions_.end(), seconds);
  if (after == transitions_.begin()) return initial_offset_;
  return offset_after_[static_cast<std::size_t>(after - transitions_.begin() - 1)];
}

LocalTime TimeZone::local(WallTime when) const {
  const std::int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count() +
      offset_at(when);
  const std::int64_t day = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  LocalTime local;
  local.local_day = day;
  local.minute_of_day = static_cast<int>((seconds - day * 86400) / 60);
  local.weekday = static_cast<int>(((day % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  // Civil date from a day count (H. Hinnant's days_from_civil, inverted).
  const std::int64_t z = day + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  local.day_of_month = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  local.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  local.year = static_cast<int>(yoe + era * 400 + (local.month <= 2 ? 1 : 0));
  return local;
}

}  // namespace fulcrum::core
