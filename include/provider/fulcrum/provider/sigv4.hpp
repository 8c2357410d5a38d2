#pragma once
// AWS Signature Version 4 (header form, AWS4-HMAC-SHA256) for one HTTP request, as Bedrock
// needs it. Pure: credentials and time come in as arguments; nothing here does I/O.
//
// The path is taken exactly as it goes on the wire (already percent-encoded once) and encoded
// again for the canonical URI, as every AWS service except S3 expects. That second encoding
// is what makes a provisioned-throughput ARN (`.../model/arn%3Aaws%3A...%2Fabc/converse`)
// sign as `arn%253Aaws%253A...%252Fabc`; skipping it is the classic Bedrock 403.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fulcrum::provider {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;  // never logged
  std::string session_token;      // empty for long-term keys; STS credentials carry one
};

struct HttpHeader {
  std::string name;
  std::string value;
};

// Everything the signature covers. Views must outlive the call.
struct SigV4Request {
  std::string_view method{};  // "POST"
  // The Host header's value, e.g. "bedrock-runtime.us-east-1.amazonaws.com".
  std::string_view host{};
  std::string_view path{};   // as sent on the wire, e.g. "/model/us.anthropic...%3A0/converse"
  std::string_view query{};  // as sent on the wire, without '?'; usually empty for Bedrock
  // Other headers the request will carry and that should be signed (content-type, accept...).
  // Host and the x-amz-* headers this signer adds are its own business: don't list them here.
  std::vector<HttpHeader> headers{};
  std::string_view payload{};  // the exact body bytes that will be sent
  std::string_view region{};   // "us-east-1"
  std::string_view service{};  // "bedrock" for the bedrock-runtime host
  std::chrono::system_clock::time_point time{};
  AwsCredentials credentials{};
  // S3 requires x-amz-content-sha256; Bedrock and most JSON services do not.
  bool add_content_sha256_header = false;
};

struct SigV4Signature {
  // The intermediate steps, for tests and for debugging a SignatureDoesNotMatch.
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lowercase hex
  // To add to the request as is: X-Amz-Date, X-Amz-Security-Token (with a session token),
  // X-Amz-Content-Sha256 (when asked for), Authorization.
  std::vector<HttpHeader> headers;
};

// std::nullopt only when OpenSSL's SHA-256 or HMAC fails, which with its default provider
// means it could not allocate: the caller fails the attempt rather than send it unsigned.
std::optional<SigV4Signature> sign_v4(const SigV4Request& request);

// "20150830T123600Z" (UTC).
std::string amz_date(std::chrono::system_clock::time_point time);

// RFC 3986 percent-encoding of every byte outside the unreserved set (A-Z a-z 0-9 - . _ ~),
// uppercase hex; '/' kept when `keep_slash`. Use it with keep_slash=false to put a model ID
// or ARN into a path as one segment.
std::string aws_uri_encode(std::string_view bytes, bool keep_slash);

// The canonical URI of a wire path: dot segments and empty segments removed (as AWS's
// non-S3 services normalize before checking), then every segment encoded once more.
std::string canonical_uri(std::string_view wire_path);

// The canonical query of a wire query: pairs percent-decoded, re-encoded with
// aws_uri_encode, sorted by name then value. '+' is a literal plus, not a space.
std::string canonical_query(std::string_view wire_query);

}  // namespace fulcrum::provider
