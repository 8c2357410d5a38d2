#pragma once
// The headers of an upstream's response that clients read, passed on for the attempt that
// answered: the request id the SDKs report (x-request-id), rate-limit state (x-ratelimit-*),
// when and whether to retry (retry-after, retry-after-ms, x-should-retry, which the openai SDKs
// obey), and OpenAI's processing time and version. Never
// a hop-by-hop header, never set-cookie: an allowlist, not a denylist.
#include <array>
#include <cstddef>
#include <optional>
#include <span>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/net/asio.hpp"
#include "wire.hpp"

namespace fulcrum::net {

class PassedHeaders {
 public:
  // Views into `head`, which must outlive this.
  explicit PassedHeaders(const http::response_header<>& head);

  std::span<const Field> fields() const { return {fields_.data(), count_}; }

 private:
  static constexpr std::size_t kMax = 16;
  std::array<Field, kMax> fields_{};
  std::size_t count_ = 0;
};

// When the upstream asks to be retried: retry-after-ms when sent (OpenAI's), else retry-after
// in seconds (the HTTP-date form is rare from APIs and not honoured).
std::optional<core::Duration> retry_after_of(const http::response_header<>& head);

}  // namespace fulcrum::net
