#include "fulcrum/core/url.hpp"

#include <charconv>

namespace fulcrum::core {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    for (char c : out.host) {
      if (!is_host_char(c)) return std::nullopt;
    }
  }
  const auto port = parse_port(port_text);
  if (!port || out.host.empty()) return std::nullopt;
  out.port = *port;
  return out;
}

std::optional<Url> parse_url(std::string_view text) {
  Url url;
  if (text.starts_with("https://")) {
    url.tls = true;
    text.remove_prefix(8);
  } else if (text.starts_with("http://")) {
    text.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  if (text.find_first_of("?#@") != std::string_view::npos) return std::nullopt;
  const auto slash = text.find('/');
  const std::string_view authority = text.substr(0, slash);
  if (slash != std::string_view::npos) url.path = std::string(text.substr(slash));
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();

  const bool bracketed = !authority.empty() && authority.front() == '[';
  const auto colon = bracketed ? authority.find("]:") : authority.rfind(':');
  if (colon == std::string_view::npos) {
    if (bracketed) {
      if (authority.back() != ']') return std::nullopt;
      url.host = std::string(authority.substr(1, authority.size() - 2));
    } else {
      url.host = std::string(authority);
    }
    url.port = url.tls ? 443 : 80;
  } else {
    const auto host_part = bracketed ? authority.substr(1, colon - 1) : authority.substr(0, colon);
    const auto port = parse_port(authority.substr(bracketed ? colon + 2 : colon + 1));
    if (!port || *port == 0) return std::nullopt;
    url.host = std::string(host_part);
    url.port = *port;
  }
  if (url.host.empty()) return std::nullopt;
  if (!bracketed) {
    for (char c : url.host) {
      if (!is_host_char(c)) return std::nullopt;
    }
  }
  return url;
}

std::string Url::host_header() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

std::string Url::to_string() const { return (tls ? "https://" : "http://") + host_header() + path; }

}  // namespace fulcrum::core
