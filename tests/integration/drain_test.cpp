// SIGTERM drains: new connections are refused, /readyz turns 503, requests in flight finish
// (and are metered) up to server.drain_timeout, then the process exits 0.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

constexpr const char* kSlowSim =
    "endpoints:\n  cloud: {listen: 127.0.0.1:0, ttft: 10ms, tokens_per_second: 20}\n";

std::string gateway(const std::string& drain_timeout) {
  return "server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0, threads: 2, drain_timeout: " +
         drain_timeout +
         "}\n"
         "endpoints:\n  cloud:\n    kind: serverless\n    base_url: http://${cloud}/v1\n"
         "    pricing: {m: {input: 1, output: 1}}\nmodels:\n  m: {targets: [cloud/m]}\n";
}

std::string stream_request(int tokens) {
  return R"({"model":"m","stream":true,"max_tokens":)" + std::to_string(tokens) +
         R"(,"messages":[{"role":"user","content":"hi"}]})";
}

bool refuses_connections(std::uint16_t port) {
  try {
    HttpClient probe(port);
    return false;
  } catch (const std::exception&) {
    return true;
  }
}

// The issue's test: 20 open streams, SIGTERM.
TEST(Drain, SigtermLetsOpenStreamsFinishAndRefusesNewConnections) {
  Stack stack(kSlowSim, gateway("10s"));
  std::vector<std::unique_ptr<HttpClient>> streams;
  for (int i = 0; i < 20; ++i) {
    streams.push_back(std::make_unique<HttpClient>(stack.port()));
    ASSERT_EQ(streams.back()->start("/v1/chat/completions", stream_request(10)).status, 200u);
    ASSERT_TRUE(streams.back()->next_piece());  // under way
  }
  HttpClient idle(stack.port());
  ASSERT_EQ(idle.get("/v1/models").status, 200u);  // an idle keep-alive connection
  HttpClient admin(stack.admin_port());
  ASSERT_EQ(admin.get("/readyz").status, 200u);

  const auto signalled = std::chrono::steady_clock::now();
  stack.gateway().signal(SIGTERM);
  EXPECT_TRUE(eventually([&] { return refuses_connections(stack.port()); }));
  EXPECT_EQ(HttpClient(stack.admin_port()).get("/readyz").status, 503u);

  for (auto& stream : streams) {
    std::string body;
    while (auto piece = stream->next_piece()) body += *piece;
    EXPECT_FALSE(stream->broken());
    EXPECT_NE(body.find("data: [DONE]"), std::string::npos);
  }
  const int status = stack.gateway().wait_exit(std::chrono::seconds(11));
  const auto exited_after = std::chrono::steady_clock::now() - signalled;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Everything finished early, so the drain did not wait for its 10 s timeout.
  EXPECT_LT(exited_after, std::chrono::seconds(10));
  int metered = 0;
  for (const auto& line : stack.gateway().lines()) {
    metered += line.find("info access") != std::string::npos &&
               line.find("outcome=success stream=true") != std::string::npos;
  }
  EXPECT_EQ(metered, 20);  // every drained stream reached the access log (and the metrics)
}

TEST(Drain, StreamsBeyondTheDrainTimeoutEndWithAnErrorEventAndTheProcessExitsZero) {
  Stack stack(kSlowSim, gateway("500ms"));
  std::vector<std::unique_ptr<HttpClient>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::make_unique<HttpClient>(stack.port()));
    ASSERT_EQ(streams.back()->start("/v1/chat/completions", stream_request(200)).status,
              200u);  // ~10 s each
    ASSERT_TRUE(streams.back()->next_piece());
  }
  const auto signalled = std::chrono::steady_clock::now();
  stack.gateway().signal(SIGTERM);
  for (auto& stream : streams) {
    std::string body;
    while (auto piece = stream->next_piece()) body += *piece;
    EXPECT_EQ(body.find("[DONE]"), std::string::npos);  // cut, and not presented as complete
    // The last event says why, in OpenAI's error shape.
    const auto last = body.rfind("data: {\"error\"");
    ASSERT_NE(last, std::string::npos) << body;
    EXPECT_NE(body.find("shutting down", last), std::string::npos);
    EXPECT_FALSE(stream->broken());  // a clean end of the chunked body, not a reset
  }
  const int status = stack.gateway().wait_exit(std::chrono::seconds(5));
  const auto exited_after = std::chrono::steady_clock::now() - signalled;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(exited_after, std::chrono::milliseconds(1500));  // drain_timeout + 1 s
  int ended = 0;
  for (const auto& line : stack.gateway().lines()) {
    ended += line.find("stream_ended_by_drain") != std::string::npos;
  }
  EXPECT_EQ(ended, 3);
}

}  // namespace
}  // namespace fulcrum::testing
