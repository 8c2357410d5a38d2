// The connection loop in process, over Beast's test stream: no sockets, no threads, no
// timing. A handler that throws, one that ends mid-stream by throwing, one that returns
// without answering, and every I/O operation of a connection failing in turn.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "fulcrum/net/http_server.hpp"
#include "fulcrum/net/http_util.hpp"

namespace fulcrum::net {
namespace {

constexpr std::string_view kRequest =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    "Content-Length: 2\r\n\r\n{}";

// One connection served to its end: `request` goes in, everything the server wrote comes out.
struct Served {
  std::string response;
  bool ended = false;          // the connection's coroutine finished
  std::exception_ptr escaped;  // what got past the connection's last resort
  int open_after = -1;         // the tracker's counts once it ended
  int busy_after = -1;
};

Served serve(std::string_view request, RequestHandler handler,
             beast::test::fail_count* fail = nullptr) {
  asio::io_context io;
  beast::test::stream client(io);
  beast::test::stream server =
      fail != nullptr ? beast::test::stream(io, *fail) : beast::test::stream(io);
  client.connect(server);
  ConnectionTracker tracker;
  Served out;
  asio::co_spawn(io,
                 serve_connection(ClientStream(std::move(server)), config::Limits{},
                                  std::move(handler), &tracker),
                 [&](std::exception_ptr thrown) {
                   out.ended = true;
                   out.escaped = thrown;
                 });
  error_code ec;
  asio::write(client, asio::buffer(request.data(), request.size()), ec);
  io.run();
  out.open_after = tracker.open();
  out.busy_after = tracker.busy();
  // What the server wrote is waiting in the client's end.
  char chunk[4096];
  for (;;) {
    const std::size_t n = client.read_some(asio::buffer(chunk), ec);
    out.response.append(chunk, n);
    if (ec) break;
  }
  return out;
}

nlohmann::json body_json(const std::string& response) {
  return nlohmann::json::parse(response.substr(response.find("\r\n\r\n") + 4), nullptr, false);
}

TEST(Connection, AHandlerThatThrowsGetsA500InOpenAisShape) {
  const Served served = serve(kRequest, [](ClientReply& reply, Request&) -> awaitable<bool> {
    reply.set_request_id("req-1");
    throw std::runtime_error("boom");
    co_return true;
  });
  EXPECT_TRUE(served.ended);
  EXPECT_FALSE(served.escaped);
  EXPECT_EQ(served.response.rfind("HTTP/1.1 500", 0), 0u) << served.response;
  const auto error = body_json(served.response)["error"];
  EXPECT_EQ(error["code"], "internal_error");
  EXPECT_NE(error["message"].get<std::string>().find("req-1"), std::string::npos);
  EXPECT_EQ(served.open_after, 0);
  EXPECT_EQ(served.busy_after, 0);
}

TEST(Connection, AStreamThatThrowsMidWayEndsWithAnErrorEventAndNoDone) {
  const Served served = serve(kRequest, [](ClientReply& reply, Request&) -> awaitable<bool> {
    reply.begin_stream(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
    co_await reply.write("data: {\"choices\":[]}\n\n");
    throw std::runtime_error("boom mid-stream");
  });
  EXPECT_TRUE(served.ended);
  EXPECT_FALSE(served.escaped);
  const std::string& r = served.response;
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  EXPECT_NE(r.find("data: {\"choices\":[]}"), std::string::npos);
  EXPECT_NE(r.find("\"code\":\"internal_error\""), std::string::npos) << r;
  EXPECT_EQ(r.find("[DONE]"), std::string::npos);
  // The chunked body is ended properly: the client sees a complete, failed stream.
  EXPECT_EQ(r.substr(r.size() - 5), "0\r\n\r\n");
}

TEST(Connection, AHandlerThatReturnsWithoutAnsweringIsAnsweredFor) {
  const Served served =
      serve(kRequest, [](ClientReply&, Request&) -> awaitable<bool> { co_return true; });
  EXPECT_EQ(served.response.rfind("HTTP/1.1 500", 0), 0u) << served.response;
  EXPECT_EQ(body_json(served.response)["error"]["code"], "internal_error");
}

// Every read and write of a connection fails in turn (Beast's fail_count): whichever it is,
// the connection ends on its own, nothing escapes it, and the tracker holds nothing.
TEST(Connection, AFailureAtEveryIoPointEndsTheConnectionCleanly) {
  const RequestHandler streaming = [](ClientReply& reply, Request&) -> awaitable<bool> {
    reply.begin_stream(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; ++i) {
      if (!co_await reply.write("data: {\"n\":" + std::to_string(i) + "}\n\n")) co_return false;
    }
    co_return co_await reply.end("data: [DONE]\n\n");
  };
  std::size_t failing_point = 1;
  for (; failing_point < 50; ++failing_point) {
    beast::test::fail_count fail(failing_point);
    const Served served = serve(kRequest, streaming, &fail);
    ASSERT_TRUE(served.ended) << failing_point;
    EXPECT_FALSE(served.escaped) << failing_point;
    EXPECT_EQ(served.open_after, 0) << failing_point;
    EXPECT_EQ(served.busy_after, 0) << failing_point;
    // Past the last operation nothing fails: the whole stream arrives.
    if (served.response.find("data: [DONE]") != std::string::npos) break;
  }
  EXPECT_GT(failing_point, 3u) << "reads and writes were failed in turn";
  EXPECT_LT(failing_point, 50u) << "a run without failures completes";
}

TEST(Connection, AMalformedHeadIsRefusedWithoutCallingTheHandler) {
  bool called = false;
  const Served served = serve("POST / HTTP/1.1\r\nHost: x\r\n folded: no\r\n\r\n",
                              [&](ClientReply&, Request&) -> awaitable<bool> {
                                called = true;
                                co_return true;
                              });
  EXPECT_FALSE(called);
  EXPECT_EQ(served.response.rfind("HTTP/1.1 400", 0), 0u) << served.response;
}

}  // namespace
}  // namespace fulcrum::net
