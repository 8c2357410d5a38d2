// Hostile clients over raw sockets: every ambiguous HTTP/1.1 framing is a 400 and a closed
// connection, limits answer 413/431, hostile JSON is a 400 in OpenAI's shape, and nothing a
// client sends can choose the upstream.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/http_client.hpp"
#include "../support/stack.hpp"

namespace fulcrum::testing {
namespace {

using nlohmann::json;

constexpr const char* kSim = "endpoints: {cloud: {listen: 127.0.0.1:0}}";

std::string gateway(const std::string& limits = "") {
  return "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  threads: 2\n" + limits +
         "endpoints:\n  cloud: {kind: serverless, base_url: 'http://${cloud}/v1', "
         "pricing: {m: {input: 1, output: 1}}}\n"
         "models:\n  m: {targets: [cloud/m]}\n";
}

std::string chat_body() { return R"({"model":"m","messages":[{"role":"user","content":"hi"}]})"; }

std::string post(const std::string& extra_headers, const std::string& body,
                 const std::string& version = "1.1") {
  return "POST /v1/chat/completions HTTP/" + version + "\r\nHost: x\r\n" + extra_headers + "\r\n" +
         body;
}

std::string with_length(const std::string& extra = "") {
  return post("Content-Length: " + std::to_string(chat_body().size()) + "\r\n" + extra,
              chat_body());
}

// The error of a raw response, parsed; its OpenAI shape is part of the contract.
json error_of(const std::string& raw) {
  const auto body = raw.find("\r\n\r\n");
  if (body == std::string::npos) return json();
  return json::parse(raw.substr(body + 4), nullptr, false);
}

TEST(HostileClient, AmbiguousFramingIs400AndTheConnectionCloses) {
  Stack stack(kSim, gateway());
  const std::string body = chat_body();
  const std::string size = std::to_string(body.size());
  const std::vector<std::pair<std::string, std::string>> cases{
      {"length and chunked",
       post("Content-Length: " + size + "\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")},
      {"chunked not last", post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n")},
      {"gzip only", post("Transfer-Encoding: gzip\r\n", body)},
      {"two lengths, equal",
       post("Content-Length: " + size + "\r\nContent-Length: " + size + "\r\n", body)},
      {"two lengths, different",
       post("Content-Length: " + size + "\r\nContent-Length: 2\r\n", body)},
      {"length list", post("Content-Length: " + size + ", " + size + "\r\n", body)},
      {"length not a number", post("Content-Length: 1e3\r\n", body)},
      {"negative length", post("Content-Length: -1\r\n", body)},
      {"chunked HTTP/1.0", post("Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "1.0")},
      {"obsolete line folding", with_length("X-Folded: a\r\n  b\r\n")},
      {"CR in a value", with_length("X-Bad: a\rb\r\n")},
      {"NUL in a value", with_length(std::string("X-Bad: a\0b\r\n", 12))},
      {"space before colon", with_length("Content-Type : application/json\r\n")},
  };
  for (const auto& [name, request] : cases) {
    const std::string answer =
        raw_exchange(stack.port(), request + "GET /v1/models HTTP/1.1\r\n\r\n");
    EXPECT_EQ(status_of(answer), 400u) << name << ":\n" << answer;
    EXPECT_EQ(error_of(answer)["error"]["type"], "invalid_request_error") << name;
    // One answer, then the connection closed: the pipelined GET /v1/models after it is never
    // read as a request.
    EXPECT_EQ(answer.find(R"("object":"list")"), std::string::npos) << name;
  }
  EXPECT_EQ(stack.sim_stats()["cloud"]["requests"], 0);  // none of them went upstream
  // The same connection rules still serve a well-formed request.
  EXPECT_EQ(status_of(raw_exchange(stack.port(), with_length("Connection: close\r\n"))), 200u);
}

TEST(HostileClient, LimitsAnswer413And431) {
  Stack stack(kSim, gateway("  limits: {max_body_bytes: 1000, max_header_bytes: 2000, "
                            "max_header_count: 20}\n"));
  const std::string big(2000, 'x');
  EXPECT_EQ(status_of(raw_exchange(stack.port(), post("Content-Length: 2000\r\n", big))), 413u);
  std::string many;
  for (int i = 0; i < 30; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  const std::string answer = raw_exchange(stack.port(), with_length(many));
  EXPECT_EQ(status_of(answer), 431u) << answer;
  EXPECT_EQ(status_of(raw_exchange(stack.port(), with_length("X-Long: " + big + "\r\n"))), 431u);
}

TEST(HostileClient, HostileJsonIs400InOpenAiShape) {
  Stack stack(kSim, gateway());
  HttpClient client(stack.port());
  const auto expect_400 = [&](const std::string& name, const std::string& body) {
    const Response r = client.post("/v1/chat/completions", body);
    EXPECT_EQ(r.status, 400u) << name << ": " << r.body;
    const json error = json::parse(r.body, nullptr, false);
    EXPECT_EQ(error["error"]["type"], "invalid_request_error") << name;
  };
  expect_400("malformed", R"({"model":"m","messages":[)");
  expect_400("deeply nested", R"({"model":"m","messages":[{"role":"user","content":"x"}],"x":)" +
                                  std::string(5000, '[') + std::string(5000, ']') + "}");
  expect_400("invalid UTF-8",
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}");
  expect_400("not an object", "[1,2,3]");
  expect_400("model not a string", R"({"model":["m"],"messages":[]})");
  // Real tool schemas nest a few dozen levels: a 100-level one is accepted.
  std::string schema = R"({"type":"string"})";
  for (int i = 0; i < 48; ++i) schema = R"({"type":"object","properties":{"p":)" + schema + "}}";
  const Response deep_tool = client.post(
      "/v1/chat/completions",
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":)" +
          schema + "}}]}");
  EXPECT_EQ(deep_tool.status, 200u) << deep_tool.body;
  // A huge array within the body limit is parsed, not a crash.
  std::string huge = R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[)";
  for (int i = 0; i < 200000; ++i) huge += "0,";
  huge += "0]}";
  EXPECT_EQ(client.post("/v1/chat/completions", huge).status, 200u);
}

// A raw connection from a chosen loopback address (all of 127/8 is local), so a test can be
// several clients at once.
int connect_from(const char* source, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Whether the server closed `fd` (reading what it sent), waiting up to `timeout`.
bool closed_by_server(int fd, std::chrono::milliseconds timeout, std::string* said = nullptr) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      if (said) said->append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    return n == 0 || errno == ECONNRESET;
  }
}

TEST(HostileClient, SlowlorisConnectionsAreCutWhileOthersAreServed) {
  Stack stack(kSim, gateway("  limits: {header_timeout: 2s}\n"));
  // 500 clients from 127.0.0.2 that start a request head and never finish it.
  std::vector<int> slow;
  for (int i = 0; i < 500; ++i) {
    const int fd = connect_from("127.0.0.2", stack.port());
    ASSERT_GE(fd, 0) << i;
    const char* start = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    ::send(fd, start, std::strlen(start), MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  // Meanwhile everyone else is served.
  HttpClient client(stack.port());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(client.post("/v1/chat/completions", chat_body()).status, 200u) << i;
  }
  // A byte now and then does not keep a head alive past header_timeout.
  for (int fd : slow) ::send(fd, "a", 1, MSG_NOSIGNAL);
  int cut = 0;
  for (int fd : slow) {
    cut += closed_by_server(fd, std::chrono::seconds(4));
    ::close(fd);
  }
  EXPECT_EQ(cut, 500);
  EXPECT_EQ(client.post("/v1/chat/completions", chat_body()).status, 200u);
}

TEST(HostileClient, ConnectionCapsRefuseTheExcessWith503) {
  Stack stack(kSim, gateway("  limits: {max_connections: 12, max_connections_per_client: 5}\n"));
  std::vector<int> mine;
  for (int i = 0; i < 5; ++i) mine.push_back(connect_from("127.0.0.3", stack.port()));
  // Each of them is accepted and counted before the sixth arrives.
  for (int fd : mine) {
    const char* ping = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
    ::send(fd, ping, std::strlen(ping), MSG_NOSIGNAL);
    char buffer[4096];
    ASSERT_GT(::recv(fd, buffer, sizeof buffer, 0), 0);
  }
  const int sixth = connect_from("127.0.0.3", stack.port());
  std::string said;
  EXPECT_TRUE(closed_by_server(sixth, std::chrono::seconds(3), &said));
  EXPECT_EQ(status_of(said), 503u) << said;
  EXPECT_EQ(error_of(said)["error"]["code"], "too_many_connections");
  ::close(sixth);
  // Another address is not affected by that client's cap.
  EXPECT_EQ(HttpClient(stack.port()).get("/v1/models").status, 200u);
  // A closed connection frees its place.
  ::close(mine.back());
  mine.pop_back();
  EXPECT_TRUE(eventually([&] {
    const int again = connect_from("127.0.0.3", stack.port());
    const char* ping = "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ::send(again, ping, std::strlen(ping), MSG_NOSIGNAL);
    std::string answer;
    closed_by_server(again, std::chrono::seconds(2), &answer);
    ::close(again);
    return status_of(answer) == 200;
  }));
  // The cap on all connections: with 4 of mine open, 8 more from other addresses fill it and
  // the 2 after them are refused.
  std::vector<int> others;
  for (int i = 0; i < 10; ++i) {
    const std::string source = "127.0.1." + std::to_string(i + 1);
    others.push_back(connect_from(source.c_str(), stack.port()));
  }
  int refused = 0;
  for (int fd : others) {
    std::string answer;
    const char* ping = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
    ::send(fd, ping, std::strlen(ping), MSG_NOSIGNAL);
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) answer.assign(buffer, static_cast<std::size_t>(n));
    refused += status_of(answer) == 503;
  }
  EXPECT_EQ(refused, 2);
  for (int fd : mine) ::close(fd);
  for (int fd : others) ::close(fd);
}

// A listener that counts connections: it must see none.
class Canary {
 public:
  Canary() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        const int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) return;
        if (stopping_) {
          ::close(client);
          return;
        }
        ++connections_;
        ::close(client);
      }
    });
  }
  ~Canary() {
    stopping_ = true;
    // Wake the accept() with one last connection of our own.
    const int wake = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_);
    ::connect(wake, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    thread_.join();
    ::close(wake);
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST(HostileClient, NothingAClientSendsChoosesTheUpstream) {
  Canary canary;
  Stack stack(kSim, gateway());
  const std::string canary_url = "http://127.0.0.1:" + std::to_string(canary.port());
  HttpClient client(stack.port());
  // Fields that some gateways honour as the upstream's address are refused.
  for (const char* field : {"api_base", "base_url", "api_key"}) {
    const Response r = client.post("/v1/chat/completions",
                                   R"({"model":"m","messages":[{"role":"user","content":"x"}],")" +
                                       std::string(field) + R"(":")" + canary_url + R"("})");
    EXPECT_EQ(r.status, 400u) << field;
    EXPECT_EQ(json::parse(r.body)["error"]["param"], field);
  }
  // Headers naming a host are ignored: the request goes where the config says.
  const std::string host = "127.0.0.1:" + std::to_string(canary.port());
  const Response headers = client.post("/v1/chat/completions", chat_body(),
                                       {{"host", host},
                                        {"x-forwarded-host", host},
                                        {"forwarded", "host=" + host},
                                        {"x-original-url", canary_url + "/v1"}});
  EXPECT_EQ(headers.status, 200u);
  EXPECT_EQ(headers.header("x-fulcrum-endpoint"), "cloud");
  // A model named like an address is only an unknown model.
  EXPECT_EQ(
      client.post("/v1/chat/completions", R"({"model":")" + canary_url + R"(/v1","messages":[]})")
          .status,
      404u);
  // An absolute-form request target does not proxy anywhere either.
  const std::string absolute = "POST " + canary_url +
                               "/v1/chat/completions HTTP/1.1\r\nHost: " + host +
                               "\r\nContent-Length: " + std::to_string(chat_body().size()) +
                               "\r\nConnection: close\r\n\r\n" + chat_body();
  EXPECT_NE(status_of(raw_exchange(stack.port(), absolute)), 0u);
  EXPECT_EQ(canary.connections(), 0);
}

}  // namespace
}  // namespace fulcrum::testing
