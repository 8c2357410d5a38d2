// Upstreams that reset, are slow, stall, break their framing, or cannot prove who they are.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/sockets.hpp"
#include "../support/stack.hpp"
#include "../support/temp_dir.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

constexpr const char* kChat =
    R"({"model":"llama-8b","max_tokens":6,"messages":[{"role":"user","content":"hi"}]})";
constexpr const char* kStreamChat =
    R"({"model":"llama-8b","max_tokens":6,"stream":true,"messages":[{"role":"user","content":"hi"}]})";

std::string gateway_with_gpu_timeouts(const std::string& timeouts,
                                      const std::string& gpu_url = "http://${gpu}/v1") {
  return R"(endpoints:
  gpu:
    kind: provisioned
    base_url: )" +
         gpu_url + R"(
    hourly_usd: 2.0
    timeouts: )" +
         timeouts + R"(
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
models:
  llama-8b: {targets: [gpu/llama, cloud/gpt-4o-mini]}
)";
}

// The body of a streamed chat, read to its end (the status must be 200).
std::string whole_stream(HttpClient& client) {
  const Response head = client.start("/v1/chat/completions", kStreamChat);
  EXPECT_EQ(head.status, 200u);
  std::string body;
  while (auto piece = client.next_piece()) body += *piece;
  return body;
}

// The JSON of a stream's last `data:` event.
json last_event(const std::string& body) {
  const auto last = body.substr(body.rfind("data: ") + 6);
  return json::parse(last.substr(0, last.find('\n')), nullptr, false);
}

// gpu holds every request at its gate: no answer comes until the test lets it go.
constexpr const char* kHeldGpu = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, hold: true}
  cloud: {listen: 127.0.0.1:0}
)";

TEST(UpstreamFailure, SlowFirstByteBeyondItsTimeoutFallsBack) {
  Stack stack(kHeldGpu, gateway_with_gpu_timeouts("{first_byte: 200ms}"));
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", kChat);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(
      stack.metric("fulcrum_fallbacks_total", {{"from", "gpu"}, {"reason", "first_byte_timeout"}}),
      1);
  EXPECT_EQ(stack.sim_release("gpu"), 1);  // the late answer, metered before the gateway stops
}

// The upstream answers after its attempt was given up and another target served the client:
// the late answer is metered (its tokens were spent), never relayed.
TEST(UpstreamFailure, ALateAnswerAfterTheFallbackSucceededIsMeteredNotRelayed) {
  Stack stack(kHeldGpu, gateway_with_gpu_timeouts("{first_byte: 200ms}"));
  HttpClient client(stack.port());
  std::set<std::string> ids;
  for (const char* body : {kChat, kStreamChat}) {
    const Response res = client.post("/v1/chat/completions", body);
    ASSERT_EQ(res.status, 200u) << res.body;
    EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
    EXPECT_EQ(res.body.find("llama"), std::string::npos);  // nothing of gpu's answer
    ids.insert(res.header("x-fulcrum-request-id"));
  }
  // Both attempts on gpu were given up; now gpu answers them.
  ASSERT_EQ(stack.sim_release("gpu"), 2);
  // Each request: a row for cloud's answer, and one for gpu's, marked abandoned.
  ASSERT_TRUE(eventually([&] { return ledger_rows(stack.ledger_path()).size() == 4; },
                         std::chrono::seconds(10)));
  int abandoned = 0;
  for (const json& row : ledger_rows(stack.ledger_path())) {
    EXPECT_TRUE(ids.count(row["request_id"])) << row.dump();
    if (row["outcome"] != "abandoned") continue;
    ++abandoned;
    EXPECT_EQ(row["endpoint"], "gpu");
    EXPECT_EQ(row["output_tokens"], 6);  // max_tokens: the sim's deterministic usage
  }
  EXPECT_EQ(abandoned, 2);
  EXPECT_EQ(stack.metric("fulcrum_tokens_total", {{"endpoint", "gpu"}, {"type", "output"}}), 12);
  // Counted as tokens and cost, not as requests served by gpu.
  EXPECT_FALSE(stack.metric("fulcrum_requests_total", {{"endpoint", "gpu"}, {"outcome", "success"}})
                   .has_value());
}

// A shutdown right after the fallback answered: the drain waits for the late answer, so the
// tokens gpu spent are in the ledger when the process exits.
TEST(UpstreamFailure, ADrainWaitsForALateAnswerAndMetersIt) {
  Stack stack(kHeldGpu, gateway_with_gpu_timeouts("{first_byte: 200ms}"));
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", kChat);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  // The drain starts while gpu has not answered; gpu answers during it.
  stack.gateway().signal(SIGTERM);
  ASSERT_TRUE(stack.gateway().wait_for(std::regex("(draining)")));
  ASSERT_EQ(stack.sim_release("gpu"), 1);
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 2u);
  const auto late = std::find_if(rows.begin(), rows.end(),
                                 [](const json& row) { return row["outcome"] == "abandoned"; });
  ASSERT_NE(late, rows.end());
  EXPECT_EQ((*late)["endpoint"], "gpu");
  EXPECT_EQ((*late)["output_tokens"], 6);  // max_tokens: the sim's deterministic usage
  EXPECT_EQ((*late)["request_id"], res.header("x-fulcrum-request-id"));
}

TEST(UpstreamFailure, StreamStallBeyondTheIdleTimeoutEndsWithAnErrorEventAndNoDone) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, stall_after_chunks: 2}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim, gateway_with_gpu_timeouts("{idle: 300ms}"));
  HttpClient client(stack.port());
  const std::string body = whole_stream(client);
  EXPECT_FALSE(client.broken());  // the stream is ended properly, with its error in-band
  EXPECT_EQ(last_event(body)["error"]["code"], "upstream_timeout");
  EXPECT_EQ(body.find("[DONE]"), std::string::npos);
  EXPECT_EQ(stack.metric("fulcrum_requests_total", {{"endpoint", "gpu"}, {"outcome", "timeout"}}),
            1);
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 0);
}

TEST(UpstreamFailure, AResetBeforeTheResponseHeadFallsBack) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, reset_before_headers: true}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim, gateway_with_gpu_timeouts("{first_byte: 5s}"));
  HttpClient client(stack.port());
  for (const char* body : {kChat, kStreamChat}) {
    const Response r = client.post("/v1/chat/completions", body);
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("x-fulcrum-endpoint"), "cloud");
  }
  EXPECT_GE(stack.metric("fulcrum_fallbacks_total", {{"from", "gpu"}, {"reason", "reset"}}), 2);
}

TEST(UpstreamFailure, BrokenChunkFramingMidStreamEndsWithAnErrorEventAndNoDone) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, bad_chunk_after_chunks: 2}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim, gateway_with_gpu_timeouts("{idle: 5s}"));
  HttpClient client(stack.port());
  const std::string body = whole_stream(client);
  EXPECT_FALSE(client.broken());
  EXPECT_EQ(body.find("garbage"), std::string::npos);  // the broken frame is never relayed
  EXPECT_EQ(last_event(body)["error"]["code"], "upstream_error");
  EXPECT_EQ(body.find("[DONE]"), std::string::npos);
  EXPECT_EQ(
      stack.metric("fulcrum_requests_total", {{"endpoint", "gpu"}, {"outcome", "upstream_error"}}),
      1);
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 0);  // never retried once bytes went out
}

TEST(UpstreamFailure, HttpsUpstreamWithAnUntrustedCertificateIsRefused) {
  const TempDir temp("tls");
  const std::string& dir = temp.path();
  const std::string make_cert =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
      "-keyout " +
      dir + "/key.pem -out " + dir + "/cert.pem >/dev/null 2>&1";
  ASSERT_EQ(std::system(make_cert.c_str()), 0);
  const std::uint16_t tls_port = free_port();
  Process tls_server({"/usr/bin/openssl", "s_server", "-accept",
                      "127.0.0.1:" + std::to_string(tls_port), "-cert", dir + "/cert.pem", "-key",
                      dir + "/key.pem", "-www"});
  ASSERT_TRUE(tls_server.wait_for(std::regex("ACCEPT")));

  // A self-signed certificate is not in the system trust store: the handshake must fail, the
  // key must not be sent, and the next target must serve.
  Stack stack("endpoints:\n  gpu: {listen: 127.0.0.1:0}\n  cloud: {listen: 127.0.0.1:0}\n",
              gateway_with_gpu_timeouts("{connect: 2s}",
                                        "https://localhost:" + std::to_string(tls_port) + "/v1"));
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", kChat);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(stack.metric("fulcrum_fallbacks_total", {{"from", "gpu"}, {"reason", "connect"}}), 1);
  bool logged_verification_failure = false;
  for (const auto& line : stack.gateway().lines()) {
    if (line.find("upstream_failed") != std::string::npos &&
        line.find("certificate verify failed") != std::string::npos) {
      logged_verification_failure = true;
    }
  }
  EXPECT_TRUE(logged_verification_failure);
}

// The second request on a pooled connection is read, then reset by the upstream: the request
// may have been billed, so it is an attempt like any other (counted, logged, in the ledger),
// never a silent resend on a fresh connection.
TEST(UpstreamFailure, AResetAfterTheRequestWasWrittenIsACountedAttemptNotASilentResend) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, reset_every: 2}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim, gateway_with_gpu_timeouts("{first_byte: 5s}"));
  HttpClient client(stack.port());
  const Response first = client.post("/v1/chat/completions", kChat);
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.header("x-fulcrum-endpoint"), "gpu");
  const Response second = client.post("/v1/chat/completions", kChat);
  ASSERT_EQ(second.status, 200u) << second.body;
  EXPECT_EQ(second.header("x-fulcrum-endpoint"), "cloud");
  EXPECT_EQ(second.header("x-fulcrum-reason"), "fallback:reset");
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], 2);  // not sent a third time
  stack.stop_gateway();
  const auto rows = ledger_rows(stack.ledger_path());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["attempts"], 2);
  EXPECT_EQ(rows[1]["endpoint"], "cloud");
  int logged = 0;
  for (const auto& line : stack.gateway_lines()) {
    if (line.find("upstream_failed") != std::string::npos &&
        line.find("endpoint=gpu") != std::string::npos) {
      ++logged;
    }
  }
  EXPECT_EQ(logged, 1);
}

// The upstream closes keep-alive connections idle for 200 ms (as uvicorn does after 5 s): the
// gateway notices before writing, so the next request goes out once, on a fresh connection.
TEST(UpstreamFailure, APooledConnectionTheServerClosedIsNeverWrittenInto) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, idle_close: 200ms}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim, gateway_with_gpu_timeouts("{first_byte: 5s}"));
  HttpClient client(stack.port());
  ASSERT_EQ(client.post("/v1/chat/completions", kChat).status, 200u);
  const pid_t gateway = stack.gateway().pid();
  const std::uint16_t gpu = stack.sim_port("gpu");
  // Closed by the sim: CLOSE_WAIT on the gateway's side, or already swept away.
  ASSERT_TRUE(eventually([&] { return connections_to(gateway, gpu, "ESTABLISHED") == 0; }));
  const Response res = client.post("/v1/chat/completions", kChat);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "gpu");
  EXPECT_EQ(res.header("x-fulcrum-reason"), "cheapest");
  EXPECT_EQ(stack.sim_stats()["gpu"]["requests"], 2);
  EXPECT_FALSE(stack.metric("fulcrum_fallbacks_total", {{"from", "gpu"}}).has_value());
}

// Idle upstream connections end after upstream_idle_ttl, and at once when their server goes
// away: nothing lingers in CLOSE_WAIT.
TEST(UpstreamFailure, IdleUpstreamConnectionsCloseAfterTheirTtlAndWhenTheServerGoes) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim,
              "server: {listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0, threads: 1, "
              "upstream_idle_ttl: 1s}\n" +
                  gateway_with_gpu_timeouts("{first_byte: 5s}"));
  const pid_t gateway = stack.gateway().pid();
  const std::uint16_t gpu = stack.sim_port("gpu");
  HttpClient client(stack.port());
  ASSERT_EQ(client.post("/v1/chat/completions", kChat).status, 200u);
  EXPECT_EQ(connections_to(gateway, gpu), 1);  // pooled, idle
  EXPECT_TRUE(eventually([&] { return connections_to(gateway, gpu) == 0; }));

  // Another connection, then the server goes away: the FIN leaves it in CLOSE_WAIT until
  // the sweep notices.
  ASSERT_EQ(client.post("/v1/chat/completions", kChat).status, 200u);
  ASSERT_EQ(connections_to(gateway, gpu), 1);
  stack.sim().stop();
  EXPECT_TRUE(eventually([&] { return connections_to(gateway, gpu) == 0; }));
}

// A reload that drops an endpoint frees its pool, and with it the pool's connections.
TEST(UpstreamFailure, AReloadThatRemovesAnEndpointClosesItsConnections) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim, gateway_with_gpu_timeouts("{first_byte: 5s}"));
  const pid_t gateway = stack.gateway().pid();
  const std::uint16_t gpu = stack.sim_port("gpu");
  HttpClient client(stack.port());
  ASSERT_EQ(client.post("/v1/chat/completions", kChat).status, 200u);
  ASSERT_EQ(connections_to(gateway, gpu), 1);
  stack.rewrite_config(R"(endpoints:
  cloud:
    kind: serverless
    base_url: http://${cloud}/v1
    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}
models:
  llama-8b: {targets: [cloud/gpt-4o-mini]}
)");
  ASSERT_TRUE(eventually([&] {
    return stack.metric("fulcrum_config_reloads_total", {{"result", "success"}}) == 1;
  }));
  EXPECT_TRUE(eventually([&] { return connections_to(gateway, gpu) == 0; }));
  EXPECT_EQ(client.post("/v1/chat/completions", kChat).status, 200u);
}

// An event whose data is not JSON would make the openai SDK throw in the middle of an
// otherwise complete answer: it is dropped, counted and logged once; the stream completes.
TEST(UpstreamFailure, AMalformedEventIsDroppedAndTheStreamCompletes) {
  const std::string sim = R"(endpoints:
  gpu:   {listen: 127.0.0.1:0, malformed_after_chunks: 2}
  cloud: {listen: 127.0.0.1:0}
)";
  Stack stack(sim, gateway_with_gpu_timeouts("{idle: 5s}"));
  HttpClient client(stack.port());
  const std::string body = whole_stream(client);
  EXPECT_EQ(body.find("oops"), std::string::npos);
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos);
  // Every other event is relayed: the role, the six words of max_tokens, the finish.
  std::size_t events = 0;
  for (std::size_t at = body.find("data: {"); at != std::string::npos;
       at = body.find("data: {", at + 1)) {
    EXPECT_TRUE(json::accept(body.substr(at + 6, body.find('\n', at) - at - 6)));
    ++events;
  }
  EXPECT_GE(events, 7u);
  EXPECT_EQ(stack.metric("fulcrum_upstream_malformed_events_total", {{"endpoint", "gpu"}}), 1);
  EXPECT_EQ(stack.metric("fulcrum_requests_total", {{"endpoint", "gpu"}, {"outcome", "success"}}),
            1);
}

}  // namespace
}  // namespace fulcrum::testing
