#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fulcrum::core {

// An upstream base URL such as "https://api.openai.com/v1". Only what an HTTP client needs;
// userinfo, query and fragment are rejected because a base URL with them is a mistake.
struct Url {
  bool tls = false;
  std::string host;  // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string path;  // no trailing slash; "" for the root

  // The Host header value: host, plus ":port" when it is not the scheme's default.
  std::string host_header() const;
  std::string to_string() const;
};

std::optional<Url> parse_url(std::string_view text);

// "host:port" or "[v6]:port", for listen addresses.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> parse_host_port(std::string_view text);

}  // namespace fulcrum::core
