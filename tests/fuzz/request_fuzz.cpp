// Fuzz target: the request path before any upstream is involved. Bytes from a client go
// through the raw head check, Beast's parser with Fulcrum's limits, the framing checks
// (request smuggling), and the OpenAI request parser for every operation.
#include <cstdint>
#include <string_view>

#include "fulcrum/api/request.hpp"
#include "fulcrum/net/http_util.hpp"

using namespace fulcrum;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The raw head check runs first in the gateway, on the bytes up to the blank line.
  const auto head_end = bytes.find("\r\n\r\n");
  if (head_end != std::string_view::npos && net::raw_head_problem(bytes.substr(0, head_end + 4))) {
    return 0;
  }
  net::http::request_parser<net::http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1u << 20);
  parser.eager(true);
  net::error_code ec;
  std::size_t used = 0;
  while (used < bytes.size() && !parser.is_done()) {
    const std::size_t n =
        parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (ec == net::http::error::need_more) break;
    if (ec) return 0;
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_header_done()) return 0;
  if (net::framing_problem(parser.get())) return 0;
  if (!parser.is_done()) return 0;
  const std::string& body = parser.get().body();
  for (const auto op : {api::Operation::chat_completions, api::Operation::completions,
                        api::Operation::embeddings}) {
    auto parsed = api::parse_request(op, body);
    if (parsed) (void)api::upstream_body(*parsed, "upstream-model");
  }
  return 0;
}
