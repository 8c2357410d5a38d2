#pragma once
// How a `wire: bedrock` endpoint checks who is calling: AWS Signature Version 4 when the
// endpoint has a secret key, a Bedrock API key (Authorization: Bearer) when it has an
// api_key; either passes when both are set. The signature is recomputed with the gateway's
// own signer over the headers the request says it signed, so a test sees a 403 whenever the
// gateway signs something other than what it sends.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock_wire.hpp"
#include "fulcrum/provider/sigv4.hpp"
#include "sim_config.hpp"

namespace fulcrum::sim {

// A request as it arrived, for checking its signature. Views must outlive the check.
struct ArrivedRequest {
  std::string_view method;  // "POST"
  std::string_view target;  // the request line's target: wire path and query, as sent
  std::string_view payload;
  std::vector<provider::HttpHeader> headers;  // all of them, as received, repeats in order
};

// Why AWS turns the request away (403, or 400 for a malformed Authorization), or nullopt
// when it may go on. `now` bounds X-Amz-Date to 5 minutes either side.
std::optional<BedrockError> bedrock_auth_denial(const SimEndpoint& spec, const ArrivedRequest& req,
                                                std::chrono::system_clock::time_point now);

}  // namespace fulcrum::sim
