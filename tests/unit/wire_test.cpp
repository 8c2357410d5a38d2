#include "../../src/net/wire.hpp"

#include <gtest/gtest.h>

namespace fulcrum::net {
namespace {

TEST(Wire, UpstreamRequestHeadCarriesExactlyWhatTheUpstreamNeeds) {
  const auto url = core::parse_url("https://api.example.com/v1");
  ASSERT_TRUE(url);
  EXPECT_EQ(upstream_request_head(*url, "/chat/completions", "text/event-stream", "fulcrum/1",
                                  core::Secret("sk-1"), 42),
            "POST /v1/chat/completions HTTP/1.1\r\nHost: api.example.com\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            "User-Agent: fulcrum/1\r\nAuthorization: Bearer sk-1\r\nContent-Length: 42\r\n\r\n");
  const auto local = core::parse_url("http://127.0.0.1:9101");
  const std::string head =
      upstream_request_head(*local, "/embeddings", "application/json", "f", core::Secret(), 0);
  EXPECT_EQ(head.find("Authorization"), std::string::npos);
  EXPECT_NE(head.find("POST /embeddings HTTP/1.1\r\nHost: 127.0.0.1:9101\r\n"), std::string::npos);
}

TEST(Wire, ResponseHeadStatesLengthOrChunkingAndConnection) {
  EXPECT_EQ(response_head(200, 11, true, {{"x-a", "1"}}, Framing::content_length(5)),
            "HTTP/1.1 200 OK\r\nx-a: 1\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(response_head(200, 11, false, {}, Framing::chunked()),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(response_head(404, 10, true, {}, Framing::content_length(0)),
            "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  // A close-delimited body cannot keep the connection, whatever the caller asked.
  EXPECT_EQ(response_head(200, 10, true, {}, Framing::until_close()), "HTTP/1.0 200 OK\r\n\r\n");
}

}  // namespace
}  // namespace fulcrum::net
