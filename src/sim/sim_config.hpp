#pragma once
// fulcrum-sim's settings: simulated OpenAI-compatible endpoints with chosen latency,
// capacity, cold starts and failures, and exact, deterministic usage.
#include <optional>
#include <string>
#include <vector>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/core/expected.hpp"
#include "fulcrum/core/url.hpp"

namespace fulcrum::sim {

struct SimEndpoint {
  std::string name;
  core::HostPort listen{"127.0.0.1", 0};
  std::string prefix;  // "" or e.g. "/gpu-a": several endpoints may share one port
  // The provider wire it speaks: openai (/v1/...), azure (/openai/deployments/{d}/...?
  // api-version= and /openai/v1/..., key in api-key), gemini (/v1beta/openai/...) or
  // anthropic (/v1/messages, x-api-key or a bearer token by anthropic-version) or bedrock
  // (/model/{modelId}/converse and /converse-stream, and InvokeModel for Anthropic models at
  // /invoke and /invoke-with-response-stream; SigV4 or a Bedrock API key).
  std::string wire = "openai";

  // Speed. tokens_per_second 0 means "all at once".
  core::Duration ttft{0};
  double tokens_per_second = 0;
  // Provisioned behaviour: at most this many requests generate at once; the rest queue.
  unsigned max_concurrency = 0;  // 0 = unlimited
  // Serverless scale-to-zero: after this much idle time the next request pays cold_start.
  core::Duration cold_start{0};
  core::Duration cold_after_idle{0};

  // Output and usage.
  unsigned completion_tokens = 16;  // when the request sets no max_tokens
  unsigned cached_tokens = 0;       // reported as prompt_tokens_details.cached_tokens (capped)
  unsigned cache_write_tokens = 0;  // anthropic: cache_creation_input_tokens (capped)
  unsigned embedding_dimensions = 8;
  std::string api_key;  // when set, requests must carry "Authorization: Bearer <api_key>"
  // bedrock: with a secret key, requests must carry a valid SigV4 signature by this key id
  // for this region (service "bedrock"); with api_key too, either way of signing in passes.
  std::string aws_access_key_id;
  std::string aws_secret_access_key;
  std::string aws_region = "us-east-1";
  // azure: every answer (successes, streams, injected failures and 429s) carries
  // azure-openai-deployment-utilization with this value verbatim, e.g. "85.2%"; "" = none.
  std::string utilization;

  // Failure injection.
  unsigned fail_status = 0;  // every request answers this status
  unsigned fail_first = 0;   // the first N requests answer fail_first_status
  unsigned fail_first_status = 500;
  double rate_429 = 0;       // this fraction of requests answer 429 (evenly spread)
  unsigned retry_after = 0;  // seconds, sent with every injected 429 when non-zero
  // The type and code of every injected 429, as OpenAI's: rate_limit_exceeded (a rate limit,
  // worth retrying) or insufficient_quota (out of credit: retrying cannot help).
  std::string code_429 = "rate_limit_exceeded";
  // OpenAI's flex tier has no room: a request with service_tier "flex" answers 429
  // (resource_unavailable), one without it is served.
  bool flex_429 = false;
  // The flex tier is slower: a flex request's first token comes this much later than ttft.
  core::Duration flex_ttft{0};
  core::Duration fail_delay{0};       // injected failures answer after this long
  int cut_after_chunks = -1;          // drop the connection after K content chunks
  int stall_after_chunks = -1;        // stop sending after K content chunks (never resume)
  int bad_chunk_after_chunks = -1;    // after K content chunks, a broken chunked-encoding frame
  bool reset_before_headers = false;  // read the request, then reset the connection
  // Every K-th request (the K-th, 2K-th, ...) is read and then answered with a reset: on a
  // keep-alive connection, the reset comes after the client wrote its request.
  unsigned reset_every = 0;
  unsigned fail_every = 0;  // every K-th request answers fail_every_status
  unsigned fail_every_status = 503;
  unsigned stall_every = 0;         // every K-th stream stops after two content chunks
  int malformed_after_chunks = -1;  // after K content chunks, one event whose data is not JSON
  // Responses API streams: after K content chunks, response.failed (usage for what was made)
  // and the end of the stream, as OpenAI reports a generation that failed midway.
  int failed_after_chunks = -1;
  // anthropic streams: after K content chunks, Anthropic's `event: error` (overloaded_error)
  // after the 200, and the end of the stream.
  // bedrock streams: an exception frame of type stream_exception instead, then the end.
  int error_after_chunks = -1;
  std::string stream_exception = "modelStreamErrorException";
  // bedrock streams: after K content chunks, one eventstream frame whose message CRC is wrong
  // (the stream then goes on as usual: the client must reject it).
  int bad_crc_after_chunks = -1;
  // bedrock: the exception name of every injected failure (e.g. ModelNotReadyException with
  // fail_status 429); "" names it by status (ThrottlingException for 429, ...).
  std::string error_type;
  // Every request waits before its first byte (failures included) until a test sends
  // POST <prefix>/sim/release: a gate, so tests order events without timing margins.
  bool hold = false;
  // Keep-alive connections idle this long are closed by the sim (0: kept 10 minutes), as
  // uvicorn (vLLM) closes its idle connections after 5 s.
  core::Duration idle_close{0};

  // The serving engine it plays on GET <prefix>/metrics: "vllm", "sglang" or "tgi" (that
  // engine's Prometheus names for running, waiting and KV-cache usage), or "" for no /metrics.
  std::string engine_metrics;
  // /metrics answers 503, as an engine that stopped answering its scrapes (POST
  // <prefix>/sim/engine_load {"fail": ...} overrides it).
  bool fail_metrics = false;
};

struct SimConfig {
  std::vector<SimEndpoint> endpoints;
};

// From YAML: {endpoints: {name: {listen, prefix, ttft, tokens_per_second, ...}}}.
core::Expected<SimConfig, std::string> load_sim_config(const std::string& path);

}  // namespace fulcrum::sim
