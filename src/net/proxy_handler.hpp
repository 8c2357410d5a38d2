#pragma once
// The data plane: OpenAI-compatible requests in, the routed upstream's response out,
// streamed chunk by chunk, metered when it ends.
#include "fulcrum/api/request.hpp"
#include "fulcrum/net/http_server.hpp"
#include "fulcrum/router/prompt.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

struct LateAnswer;

class ProxyHandler {
 public:
  ProxyHandler(Runtime& runtime, Worker& worker)
      : runtime_(runtime), worker_(worker), user_agent_("fulcrum/" + runtime.version()) {}

  // Serves every data-plane path: the three proxied operations and GET /v1/models.
  awaitable<bool> handle(beast::tcp_stream& client, Request& request);

 private:
  struct Exchange;
  struct AttemptResult;
  struct UpstreamRequest {
    std::string head;
    std::string body;
  };

  void meter(Exchange& exchange);
  // Sets exchange.chargeback from its usage: the marginal cost for serverless, the amortized
  // share of the hourly price for provisioned (see metering/provisioned.hpp).
  static void charge(Exchange& exchange);
  void record_routing(const Exchange& exchange, const metering::Completion& completion);
  // Settles rate-limit and budget reservations and writes the ledger row.
  void account(Exchange& exchange, const metering::Completion& completion);
  awaitable<bool> proxy(beast::tcp_stream& client, Request& request, api::Operation op);
  // Tries exchange.candidate once (plus a fresh connection if a pooled one was stale).
  awaitable<AttemptResult> attempt(beast::tcp_stream& client, Exchange& exchange);
  // What metering an abandoned attempt's late answer needs, outliving `exchange`.
  static LateAnswer late_answer(const Exchange& exchange);
  // Routing (proxy_routing.cpp): tries the plan's candidates in order, with retries,
  // admission, circuit breakers and the retry budget; the client has a response after it.
  awaitable<bool> run_plan(beast::tcp_stream& client, Exchange& exchange);
  bool admit(Exchange& exchange, const router::PromptFeatures& prompt);
  awaitable<void> pause(core::Duration duration);
  void learn_from(Exchange& exchange, const AttemptResult* failure);
  template <class Stream>
  awaitable<AttemptResult> exchange_on(Stream& upstream, UpstreamConnection& connection,
                                       bool reused, beast::tcp_stream& client, Exchange& exchange,
                                       const UpstreamRequest& upstream_request);
  template <class Stream, class Parser>
  awaitable<AttemptResult> relay_stream(Stream& upstream, UpstreamConnection& connection,
                                        Parser& parser, beast::tcp_stream& client,
                                        Exchange& exchange);
  template <class Stream, class Parser>
  awaitable<AttemptResult> relay_whole(Stream& upstream, UpstreamConnection& connection,
                                       Parser& parser, beast::tcp_stream& client,
                                       Exchange& exchange);

  Runtime& runtime_;
  Worker& worker_;
  const std::string user_agent_;
};

}  // namespace fulcrum::net
