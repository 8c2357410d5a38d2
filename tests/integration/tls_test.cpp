// HTTPS upstreams: certificate verification against the trust store, SNI, and the name check.
// nginx terminates TLS in front of fulcrum-sim with a certificate from a CA made by the test;
// the gateway trusts that CA through SSL_CERT_FILE, which OpenSSL's default paths honour.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../support/http_client.hpp"
#include "../support/stack.hpp"
#include "../support/temp_dir.hpp"

namespace fulcrum::testing {
namespace {

class TlsUpstream : public ::testing::Test {
 protected:
  void SetUp() override {
    // A CA, and a server certificate it signs for the name "localhost" only.
    const std::string d = dir_;
    const std::string script =
        "set -e; cd " + d +
        "; "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=fulcrum-test-ca "
        "  -keyout ca.key -out ca.pem; "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out "
        "server.csr; "
        "printf 'subjectAltName=DNS:localhost\\n' > san.ext; "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "  -extfile san.ext -out server.pem";
    ASSERT_EQ(std::system(("bash -c \"" + script + "\" >/dev/null 2>&1").c_str()), 0);
  }
  void TearDown() override {
    nginx_.reset();
    backend_.reset();
  }

  // nginx with TLS on a free port, proxying to the sim endpoint at `sim_port`.
  std::unique_ptr<Process> start_nginx(std::uint16_t tls_port, std::uint16_t sim_port) {
    std::ofstream(dir_ + "/nginx.conf")
        << "daemon off; master_process off; pid " << dir_ << "/nginx.pid;\n"
        << "error_log " << dir_ << "/error.log;\nevents {}\nhttp {\n  access_log off;\n"
        << "  client_body_temp_path " << dir_ << "; proxy_temp_path " << dir_ << ";\n"
        << "  server {\n    listen 127.0.0.1:" << tls_port << " ssl;\n    server_name localhost;\n"
        << "    ssl_certificate " << dir_ << "/server.pem;\n    ssl_certificate_key " << dir_
        << "/server.key;\n"
        << "    location / { proxy_pass http://127.0.0.1:" << sim_port
        << "; proxy_http_version 1.1; "
        << "proxy_set_header Connection \"\"; proxy_buffering off; }\n  }\n}\n";
    auto nginx = std::make_unique<Process>(
        std::vector<std::string>{"/usr/sbin/nginx", "-c", dir_ + "/nginx.conf", "-p", dir_});
    // nginx prints nothing when it is ready; a TLS client that completes a handshake is proof.
    for (int i = 0; i < 100; ++i) {
      const std::string probe = "openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) +
                                " </dev/null >/dev/null 2>&1";
      if (std::system(probe.c_str()) == 0) return nginx;
    }
    ADD_FAILURE() << "nginx did not start";
    return nginx;
  }

  // fulcrum-sim behind nginx terminating TLS on tls_port_. The first Stack only serves as the
  // sim's launcher; its own gateway is not used.
  void start_tls_backend() {
    tls_port_ = free_port();
    backend_ = std::make_unique<Stack>(
        "endpoints:\n  plain: {listen: 127.0.0.1:0}\n",
        "endpoints:\n  p: {kind: serverless, base_url: 'http://${plain}/v1', "
        "pricing: {m: {input: 1, output: 1}}}\nmodels:\n  m: {targets: [p/m]}\n");
    nginx_ = start_nginx(tls_port_, backend_->sim_port("plain"));
  }

  std::string gateway(const std::string& host, std::uint16_t tls_port) const {
    return "endpoints:\n  secure:\n    kind: serverless\n    base_url: https://" + host + ":" +
           std::to_string(tls_port) +
           "/v1\n    timeouts: {connect: 2s}\n"
           "    pricing: {gpt-4o-mini: {input: 0.15, output: 0.60}}\n"
           "models:\n  mini: {targets: [secure/gpt-4o-mini]}\n";
  }

  testing::TempDir temp_{"tls"};
  const std::string dir_ = temp_.path();
  std::uint16_t tls_port_ = 0;
  std::unique_ptr<Stack> backend_;
  std::unique_ptr<Process> nginx_;
};

constexpr const char* kSim = "endpoints:\n  plain: {listen: 127.0.0.1:0}\n";
constexpr const char* kChat =
    R"({"model":"mini","max_tokens":3,"messages":[{"role":"user","content":"hi"}]})";

TEST_F(TlsUpstream, VerifiedCertificateWithTheRightNameServesPlainAndStreamedRequests) {
  start_tls_backend();
  Stack stack(kSim, gateway("localhost", tls_port_), {{"SSL_CERT_FILE", dir_ + "/ca.pem"}});
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", kChat);
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(res.header("x-fulcrum-endpoint"), "secure");
  EXPECT_EQ(res.header("x-fulcrum-cost-usd"), "0.00000195");  // 1 × 0.15 + 3 × 0.60 USD per 1M

  const Response head = client.start(
      "/v1/chat/completions", R"({"model":"mini","max_tokens":3,"stream":true,"messages":[]})");
  ASSERT_EQ(head.status, 200u);
  std::string body;
  while (auto piece = client.next_piece()) body += *piece;
  EXPECT_NE(body.find("data: [DONE]"), std::string::npos);
  // Both metered against the HTTPS endpoint.
  EXPECT_EQ(
      stack.metric("fulcrum_requests_total", {{"endpoint", "secure"}, {"outcome", "success"}}), 2);
}

TEST_F(TlsUpstream, CertificateForAnotherNameIsRefused) {
  start_tls_backend();
  // Same trusted CA, but the certificate names "localhost", not "127.0.0.1".
  Stack stack(kSim, gateway("127.0.0.1", tls_port_), {{"SSL_CERT_FILE", dir_ + "/ca.pem"}});
  HttpClient client(stack.port());
  const Response res = client.post("/v1/chat/completions", kChat);
  EXPECT_EQ(res.status, 502u) << res.body;
  EXPECT_NE(res.body.find("secure: cannot connect"), std::string::npos) << res.body;
}

}  // namespace
}  // namespace fulcrum::testing
