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
  // What the translation left out, for the client's x-fulcrum-warning header ("" = nothing).
  std::string warning;
};

// A whole answer in OpenAI's shape.
struct WholeAnswer {
  std::string body;
  std::optional<core::Usage> usage;
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
  bool finished = false;  // its last event arrived
  bool failed = false;    // it ended with the upstream's own error event
};

// Turns one upstream stream into OpenAI chat chunks, event by event.
class StreamTranslator {
 public:
  virtual ~StreamTranslator() = default;
  // `data` is one SSE event's data; the OpenAI events it makes are appended to `out`. Once the
  // upstream's error event arrived, `out` ends with an OpenAI error event and no [DONE].
  virtual void on_event(std::string_view data, std::string& out) = 0;
  const StreamState& state() const { return state_; }

 protected:
  StreamState state_;
};

class Provider {
 public:
  virtual ~Provider() = default;

  // The upstream request for `request` on `endpoint` as `upstream_model`, or the 400 a client
  // gets for something this provider cannot do.
  virtual core::Expected<UpstreamCall, api::ApiError> call(
      const api::ParsedRequest& request, const config::Endpoint& endpoint,
      std::string_view upstream_model) const = 0;

  // The headers that authenticate a request to `endpoint` (none when it has no key).
  virtual std::vector<Header> auth(const config::Endpoint& endpoint) const;
  // Where a request for `path` below OpenAI's /v1 ("/responses/resp_1?limit=2") goes on
  // `endpoint`'s wire, below its base URL's path.
  virtual std::string path(const config::Endpoint& endpoint, std::string_view path) const;

  // False for OpenAI's wire: answers are relayed byte for byte and the methods below are not
  // called.
  virtual bool translates() const { return false; }
  virtual WholeAnswer whole(std::string_view body) const;
  virtual std::unique_ptr<StreamTranslator> stream(const api::ParsedRequest& request) const;

  // The upstream's error body (status >= 400) in OpenAI's shape.
  virtual UpstreamError error(unsigned status, std::string_view body) const;
};

const Provider& provider_of(config::Provider kind);

}  // namespace fulcrum::provider
