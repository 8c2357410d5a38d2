#include "upstream_headers.hpp"

#include <charconv>

#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {
namespace {

bool passes(std::string_view name) {
  constexpr std::string_view kExact[] = {"x-request-id", "openai-processing-ms", "openai-version",
                                         "retry-after",  "retry-after-ms",       "x-should-retry"};
  for (std::string_view allowed : kExact) {
    if (beast::iequals(name, allowed)) return true;
  }
  return name.size() > 12 && beast::iequals(name.substr(0, 12), "x-ratelimit-");
}

std::optional<std::uint64_t> digits(std::string_view value) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size()) return std::nullopt;
  return n;
}

}  // namespace

PassedHeaders::PassedHeaders(const http::response_header<>& head) {
  for (const auto& field : head) {
    if (count_ == kMax) break;
    const std::string_view name = field.name_string();
    if (passes(name)) fields_[count_++] = Field{name, field.value()};
  }
}

std::optional<core::Duration> retry_after_of(const http::response_header<>& head) {
  constexpr std::uint64_t kDay = 86'400'000;
  if (const auto ms = digits(field_value(head, "retry-after-ms"))) {
    return core::Duration(std::min<std::uint64_t>(*ms, kDay));
  }
  if (const auto seconds = digits(field_value(head, http::field::retry_after))) {
    return core::Duration(std::min<std::uint64_t>(*seconds, kDay / 1000) * 1000);
  }
  return std::nullopt;
}

}  // namespace fulcrum::net
