#pragma once
// How Fulcrum speaks to one kind of upstream (endpoints.*.provider). Clients always speak
// OpenAI's API to Fulcrum; a Provider builds the upstream's request from the client's, turns
// the upstream's answer (whole or streamed) back into OpenAI's shape with usage in Fulcrum's
// one record, and reads the upstream's errors. Adding a provider is one file implementing this
// interface, its entry in provider_of(), and its tests.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fulcrum/api/error.hpp"
#include "fulcrum/api/request.hpp"
#include "fulcrum/config/config.hpp"
#include "fulcrum/core/expected.hpp"
#include "fulcrum/core/usage.hpp"

namespace fulcrum::provider {

struct Header {
  std::string name;
  std::string value;  // may hold the endpoint's key: never logged
};

// One upstream request as it goes on the wire (the method is POST).
struct UpstreamCall {
  std::string path;  // below the base URL's path, query included
  std::string body;
  std::vector<Header> headers;  // authentication and the provider's own
  std::string accept;           // the Accept header; "" = JSON, or SSE for a stream
  // What the translation left out, for the client's x-fulcrum-warning header ("" = nothing).
  std::string warning;
};

// An upstream's error body in OpenAI's shape, and what it means for retrying.
struct UpstreamError {
  std::string body;
  // A spend limit or exhausted quota: retrying the same target cannot help before the limit
  // resets (another target may still serve).
  bool exhausted = false;
};

// What a translated stream has said so far.
struct StreamState {
  std::optional<core::Usage> usage;
  bool finished = false;            // its last event arrived
  bool failed = false;              // it ended with the upstream's own error event
  bool content = false;             // text or a tool call came (before it, a failure may fall over)
  std::size_t generated_chars = 0;  // text and tool input seen: estimates a cut stream's output
  std::size_t malformed = 0;        // binary streams: well-framed events that were not JSON
};

// Reads one upstream stream that is not OpenAI's, event by event: turns it into OpenAI chat
// chunks, or, for a client speaking the provider's own API, only reads it (native()) while the
// relay passes each event on as it came.
class StreamTranslator {
 public:
  virtual ~StreamTranslator() = default;
  // `data` is one SSE event's data; the OpenAI events it makes are appended to `out`. Once the
  // upstream's error event arrived, `out` ends with an OpenAI error event and no [DONE].
  virtual void on_event(std::string_view data, std::string& out) = 0;
  // A stream that is not SSE (Bedrock's binary eventstream) is read here instead, its bytes as
  // they arrive, cut anywhere; a framing error fails the stream like an upstream error event.
  virtual bool binary() const { return false; }
  virtual void on_bytes(std::string_view bytes, std::string& out);
  const StreamState& state() const { return state_; }
  bool native() const { return native_; }

 protected:
  explicit StreamTranslator(bool native) : native_(native) {}
  StreamState state_;

 private:
  bool native_;
};

class Provider {
 public:
  virtual ~Provider() = default;

  // The upstream request for `request` on `endpoint` as `upstream_model`, or the 400 a client
  // gets for something this provider cannot do. `service_tier` ("flex", for a flex attempt)
  // replaces the client's own where the wire has one; "" leaves the client's untouched. Only
  // OpenAI's wire is sent a tier (the router makes flex candidates of provider openai only).
  virtual core::Expected<UpstreamCall, api::ApiError> call(const api::ParsedRequest& request,
                                                           const config::Endpoint& endpoint,
                                                           std::string_view upstream_model,
                                                           std::string_view service_tier) const = 0;

  // The headers that authenticate a request to `endpoint` (none when it has no key).
  virtual std::vector<Header> auth(const config::Endpoint& endpoint) const;
  // Where a request for `path` below OpenAI's /v1 ("/responses/resp_1?limit=2") goes on
  // `endpoint`'s wire, below its base URL's path.
  virtual std::string path(const config::Endpoint& endpoint, std::string_view path) const;

  // Whether answers to `request` are translated into another API's shape (false: relayed byte
  // for byte, as OpenAI's wire, or Anthropic's to a /v1/messages client).
  virtual bool translates(const api::ParsedRequest& request) const;

  // A whole answer's usage, with `body` rewritten in place into the client's shape when the
  // answer is translated. (The Responses API's bodies are read by the caller.)
  virtual std::optional<core::Usage> answer(const api::ParsedRequest& request,
                                            std::string& body) const;
  // A reader for a stream that is not OpenAI's; nullptr for OpenAI's (the relay reads it).
  virtual std::unique_ptr<StreamTranslator> stream(const api::ParsedRequest& request) const;

  // The response header in which the upstream reports its own load as a percentage (Azure's
  // azure-openai-deployment-utilization on PTU deployments); "" when it reports none.
  virtual std::string_view load_header() const { return {}; }

  // Whether an upstream status means "this target failed; another may serve" (429 and 5xx;
  // Bedrock's model timeout 408 and model error 424 too) rather than the client's own mistake.
  virtual bool falls_over(unsigned status) const { return status == 429 || status >= 500; }
  // The upstream's error body (status >= 400) in the client's API's shape, and what it means.
  virtual UpstreamError error(const api::ParsedRequest& request, unsigned status,
                              std::string body) const;
};

const Provider& provider_of(config::Provider kind);

}  // namespace fulcrum::provider
