#include "wire.hpp"

#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {
namespace {

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

std::string upstream_head(std::string_view method, const core::Url& base, std::string_view path,
                          std::string_view accept, std::string_view user_agent,
                          std::span<const provider::Header> headers, std::size_t content_length) {
  std::string out;
  out.reserve(256);
  out.append(method).append(" ").append(base.path).append(path).append(" HTTP/1.1\r\n");
  append_field(out, "Host", base.host_header());
  append_field(out, "Content-Type", "application/json");
  append_field(out, "Accept", accept);
  append_field(out, "User-Agent", user_agent);
  for (const provider::Header& header : headers) append_field(out, header.name, header.value);
  append_field(out, "Content-Length", std::to_string(content_length));
  out.append("\r\n");
  return out;
}

std::string response_head(unsigned status, unsigned version, bool keep_alive,
                          std::initializer_list<Field> fields, Framing framing,
                          std::span<const Field> passed) {
  std::string out;
  out.reserve(256);
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(status));
  out.append(" ").append(http::obsolete_reason(static_cast<http::status>(status))).append("\r\n");
  for (const Field& field : fields) {
    if (!field.value.empty()) append_field(out, field.name, field.value);  // optional ones
  }
  for (const Field& field : passed) append_field(out, field.name, field.value);
  switch (framing.kind) {
    case Framing::Kind::length:
      append_field(out, "Content-Length", std::to_string(framing.length));
      break;
    case Framing::Kind::chunked:
      append_field(out, "Transfer-Encoding", "chunked");
      break;
    case Framing::Kind::until_close:
      keep_alive = false;
      break;
  }
  // HTTP/1.1 keeps alive unless told; HTTP/1.0 closes unless told.
  if (version == 10 && keep_alive) append_field(out, "Connection", "keep-alive");
  if (version != 10 && !keep_alive) append_field(out, "Connection", "close");
  out.append("\r\n");
  return out;
}

}  // namespace fulcrum::net
