#include "in_process.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "../support/http_client.hpp"

namespace fulcrum::testing {

InProcessGateway::InProcessGateway(const std::string& sim_yaml, const std::string& gateway_yaml) {
  auto sim_config = sim::load_sim_config(dir_.write("sim.yaml", sim_yaml));
  if (!sim_config) throw std::runtime_error(sim_config.error());
  sim_ = std::make_unique<sim::SimServer>(*sim_config);
  sim_->start();
  sim_thread_ = std::thread([this] { sim_->run(); });

  std::string text = "version: 1\nledger: {enabled: false}\n" + gateway_yaml;
  for (const auto& endpoint : sim_config->endpoints) {
    text = std::regex_replace(text, std::regex("\\$\\{" + endpoint.name + "\\}"),
                              "127.0.0.1:" + std::to_string(sim_->port(endpoint.name)));
  }
  auto config = config::load_file(dir_.write("fulcrum.yaml", text));
  if (!config) throw std::runtime_error(config.error().front().to_string());
  runtime_ = std::make_unique<net::Runtime>(std::move(*config), "test");
  worker_ = std::make_unique<net::Worker>(0, *runtime_);
  handler_ = std::make_unique<net::ProxyHandler>(*runtime_, *worker_);
}

InProcessGateway::~InProcessGateway() {
  handler_.reset();
  worker_.reset();  // its io_context, with whatever it still runs
  sim_->stop();
  sim_thread_.join();
}

std::string InProcessGateway::exchange(const std::string& raw_request,
                                       beast::test::fail_count* fail) {
  asio::io_context& io = worker_->io;
  io.restart();
  beast::test::stream client(io);
  beast::test::stream server =
      fail != nullptr ? beast::test::stream(io, *fail) : beast::test::stream(io);
  client.connect(server);
  bool ended = false;
  escaped_ = false;
  net::ProxyHandler* handler = handler_.get();
  asio::co_spawn(
      io,
      net::serve_connection(
          net::ClientStream(std::move(server)), runtime_->snapshot()->config.server.limits,
          [handler](net::ClientReply& reply, net::Request& request) {
            return handler->handle(reply, request);
          },
          &worker_->connections),
      [&](std::exception_ptr thrown) {
        ended = true;
        escaped_ = thrown != nullptr;
      });
  error_code ec;
  asio::write(client, asio::buffer(raw_request), ec);
  // The upstream is real (the sim's thread): run until this connection is over.
  while (!ended) io.run_one();
  std::string out;
  char chunk[16384];
  for (;;) {
    const std::size_t n = client.read_some(asio::buffer(chunk), ec);
    out.append(chunk, n);
    if (ec) break;
  }
  return out;
}

int InProcessGateway::sim_requests(const std::string& name) const {
  HttpClient client(sim_->port(name));
  return nlohmann::json::parse(client.get("/sim/stats").body)[name]["requests"].get<int>();
}

std::string chat_request(const std::string& model, int max_tokens, bool stream) {
  const std::string body = R"({"model":")" + model + R"(","max_tokens":)" +
                           std::to_string(max_tokens) + (stream ? R"(,"stream":true)" : "") +
                           R"(,"messages":[{"role":"user","content":"one two three"}]})";
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace fulcrum::testing
