#include "../../src/net/wire.hpp"

#include <gtest/gtest.h>

#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {
namespace {

config::Endpoint endpoint_with(config::Provider provider, std::string key) {
  config::Endpoint endpoint;
  endpoint.provider.kind = provider;
  endpoint.api_key = core::Secret(std::move(key));
  return endpoint;
}

std::vector<provider::Header> auth_of(const config::Endpoint& endpoint) {
  return provider::provider_of(endpoint.provider.kind).auth(endpoint);
}

// field_value walks the fields instead of searching Beast's tree; it must answer as the tree
// does: any case, the first of repeated fields, "" for one absent.
TEST(Wire, AFieldIsFoundAsBeastFindsIt) {
  http::request_parser<http::string_body> parser;
  error_code ec;
  const std::string raw =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAUTHORIZATION: Bearer a\r\n"
      "X-Api-Key: first\r\ncontent-TYPE: application/json\r\nx-api-key: second\r\n"
      "X-Fulcrum-Priority: high\r\nAccept: a\r\nContent-Length: 0\r\nACCEPT: b\r\n\r\n";
  parser.put(asio::buffer(raw), ec);
  ASSERT_FALSE(ec) << ec.message();
  const auto& head = parser.get();
  EXPECT_EQ(field_value(head, http::field::authorization), "Bearer a");
  EXPECT_EQ(field_value(head, http::field::content_type), "application/json");
  EXPECT_EQ(field_value(head, "x-api-key"), "first");
  EXPECT_EQ(field_value(head, "X-FULCRUM-PRIORITY"), "high");
  EXPECT_EQ(field_value(head, "content-type"), "application/json");
  EXPECT_EQ(field_value(head, http::field::accept), "a");  // repeats apart: still the first
  EXPECT_EQ(field_value(head, http::field::expect), "");
  EXPECT_EQ(field_value(head, "x-api-ke"), "");
  for (const auto& field : head) {
    EXPECT_EQ(field_value(head, field.name_string()), head[field.name_string()]);
    if (field.name() != http::field::unknown) {
      EXPECT_EQ(field_value(head, field.name()), head[field.name()]);
    }
  }
}

TEST(Wire, UpstreamRequestHeadCarriesExactlyWhatTheUpstreamNeeds) {
  const auto url = core::parse_url("https://api.example.com/v1");
  ASSERT_TRUE(url);
  const auto openai = endpoint_with(config::Provider::openai, "sk-1");
  EXPECT_EQ(upstream_head("POST", *url, "/chat/completions", "text/event-stream", "fulcrum/1",
                          auth_of(openai), 42),
            "POST /v1/chat/completions HTTP/1.1\r\nHost: api.example.com\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            "User-Agent: fulcrum/1\r\nAuthorization: Bearer sk-1\r\nContent-Length: 42\r\n\r\n");
  const auto local = core::parse_url("http://127.0.0.1:9101");
  const std::string head = upstream_head("POST", *local, "/embeddings", "application/json", "f",
                                         auth_of(endpoint_with(config::Provider::openai, "")), 0);
  EXPECT_EQ(head.find("Authorization"), std::string::npos);
  EXPECT_NE(head.find("POST /embeddings HTTP/1.1\r\nHost: 127.0.0.1:9101\r\n"), std::string::npos);
}

TEST(Wire, EachProviderAuthenticatesItsOwnWay) {
  using provider::Header;
  const auto names = [](const std::vector<Header>& headers) {
    std::string out;
    for (const Header& h : headers) out += h.name + "=" + h.value + ";";
    return out;
  };
  EXPECT_EQ(names(auth_of(endpoint_with(config::Provider::gemini, "g"))),
            "Authorization=Bearer g;");
  auto azure = endpoint_with(config::Provider::azure, "az");
  EXPECT_EQ(names(auth_of(azure)), "api-key=az;");
  azure.provider.entra_token = true;
  EXPECT_EQ(names(auth_of(azure)), "Authorization=Bearer az;");
  // Anthropic's two generations: x-api-key with 2023-06-01, a bearer token after it.
  auto claude = endpoint_with(config::Provider::anthropic, "ak");
  EXPECT_EQ(names(auth_of(claude)), "Authorization=Bearer ak;anthropic-version=2026-10-21;");
  claude.provider.anthropic_version = "2023-06-01";
  EXPECT_EQ(names(auth_of(claude)), "x-api-key=ak;anthropic-version=2023-06-01;");
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
