#pragma once
// Template definitions for http_util.hpp.

namespace fulcrum::net {

template <bool isRequest>
error_code parse_buffered(http::basic_parser<isRequest>& parser, beast::flat_buffer& buffer) {
  parser.eager(true);
  error_code ec;
  while (!parser.is_done() && buffer.size() > 0) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_more) return {};
    if (ec || used == 0) break;
  }
  return ec;
}

template <class Fields>
std::string_view field_value(const Fields& fields, http::field name) {
  BOOST_ASSERT(name != http::field::unknown);
  for (const auto& field : fields) {
    if (field.name() == name) return field.value();
  }
  return {};
}

template <class Fields>
std::string_view field_value(const Fields& fields, std::string_view name) {
  for (const auto& field : fields) {
    const std::string_view candidate = field.name_string();
    if (candidate.size() == name.size() && beast::iequals(candidate, name)) return field.value();
  }
  return {};
}

template <class Fields>
std::optional<std::string> framing_problem(const http::header<true, Fields>& head) {
  std::size_t content_lengths = 0;
  std::size_t transfer_encodings = 0;
  std::string_view length;
  std::string_view encoding;
  for (const auto& field : head) {
    const auto value = field.value();
    for (char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') {
        return "header values must not contain CR, LF or NUL";
      }
    }
    if (field.name() == http::field::content_length && content_lengths++ == 0) length = value;
    if (field.name() == http::field::transfer_encoding && transfer_encodings++ == 0) {
      encoding = value;
    }
  }
  if (content_lengths > 0 && transfer_encodings > 0) {
    return "a request must not carry both Content-Length and Transfer-Encoding";
  }
  if (content_lengths > 1) return "a request must carry at most one Content-Length";
  if (content_lengths == 1) {
    // Digits only: "5, 5", "+5" or "5e0" are read differently by different parsers.
    if (length.empty() || length.find_first_not_of("0123456789") != std::string_view::npos) {
      return "Content-Length must be a decimal number";
    }
  }
  if (transfer_encodings > 0) {
    if (transfer_encodings > 1 || !beast::iequals(encoding, "chunked")) {
      return "the only Transfer-Encoding accepted is chunked";
    }
    if (head.version() < 11) return "chunked requests need HTTP/1.1";
  }
  return std::nullopt;
}

}  // namespace fulcrum::net
