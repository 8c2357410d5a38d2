#pragma once
// HTTP/1.1 message heads written as one string on the hot path. Beast's generic serializer
// walks a buffers_cat_view per field and allocates per header; for the two heads every
// request needs (the upstream request, the client's response) that showed in profiles.
// Every value written here comes from the configuration, from Fulcrum itself or from an
// upstream's response head (which Beast's parser has checked for CR and LF), never from the
// client, so no value can smuggle a header.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "fulcrum/core/url.hpp"
#include "fulcrum/provider/provider.hpp"

namespace fulcrum::net {

struct Field {
  std::string_view name;
  std::string_view value;
};

// "{method} {base.path}{path} HTTP/1.1" (`path` may end with a query string) with Host,
// Content-Type, Accept, User-Agent, the provider's `headers` (authentication: the endpoint's
// key, written here and nowhere else) and Content-Length.
std::string upstream_head(std::string_view method, const core::Url& base, std::string_view path,
                          std::string_view accept, std::string_view user_agent,
                          std::span<const provider::Header> headers, std::size_t content_length);

// How the body after a response head is delimited.
struct Framing {
  enum class Kind { length, chunked, until_close } kind;
  std::size_t length = 0;

  static Framing content_length(std::size_t n) { return {Kind::length, n}; }
  static Framing chunked() { return {Kind::chunked}; }
  static Framing until_close() { return {Kind::until_close}; }  // HTTP/1.0 streams
};

// An upstream response's Content-Type, or JSON when it sent none.
inline std::string_view content_type_or_json(std::string_view content_type) {
  return content_type.empty() ? std::string_view("application/json") : content_type;
}

// `fields` with an empty value are left out (optional ones, such as x-fulcrum-warning).
// `passed`: headers of the upstream's response that clients read (upstream_headers.hpp).
std::string response_head(unsigned status, unsigned version, bool keep_alive,
                          std::initializer_list<Field> fields, Framing framing,
                          std::span<const Field> passed = {});

}  // namespace fulcrum::net
