#pragma once
// The Responses API's calls on a stored response: GET and DELETE /v1/responses/{id},
// POST /v1/responses/{id}/cancel and GET /v1/responses/{id}/input_items. Only the endpoint
// that created the response has it, so each call goes there (ResponsePins), for the key that
// created it only, relayed as the endpoint answered (its status, body and the headers clients
// read). No tokens are spent, so nothing is metered but an access line.
#include <string_view>

#include "fulcrum/net/client_reply.hpp"
#include "fulcrum/net/http_server.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

inline constexpr std::string_view kResponsesPrefix = "/v1/responses/";

// `path` starts with kResponsesPrefix. False when the connection must close.
awaitable<bool> serve_stored_response(Runtime& runtime, Worker& worker, ClientReply& reply,
                                      Request& request, std::string_view path);

}  // namespace fulcrum::net
