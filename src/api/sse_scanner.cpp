#include "fulcrum/api/sse_scanner.hpp"

namespace fulcrum::api {

bool sse_data(std::string_view event, std::string& out) {
  bool found = false;
  while (!event.empty()) {
    const auto newline = event.find('\n');
    std::string_view line = event.substr(0, newline);
    event = newline == std::string_view::npos ? std::string_view{} : event.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("data")) continue;
    line.remove_prefix(4);
    if (!line.empty() && line.front() != ':') continue;  // a field named e.g. "datafoo"
    if (!line.empty()) line.remove_prefix(1);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (found) out.push_back('\n');
    out.append(line);
    found = true;
  }
  return found;
}

}  // namespace fulcrum::api
