#include "bedrock_auth.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace fulcrum::sim {
namespace {

using std::chrono::system_clock;

constexpr std::chrono::minutes kMaxSkew{5};

bool same_name(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// Every value of header `name`, in the order received.
std::vector<std::string_view> values_of(const ArrivedRequest& req, std::string_view name) {
  std::vector<std::string_view> out;
  for (const auto& header : req.headers) {
    if (same_name(header.name, name)) out.push_back(header.value);
  }
  return out;
}

std::string_view first_value(const ArrivedRequest& req, std::string_view name) {
  const auto values = values_of(req, name);
  return values.empty() ? std::string_view() : values.front();
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0; start <= s.size();) {
    const std::size_t end = std::min(s.find(sep, start), s.size());
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// "20150830T123600Z" as a time; nullopt unless it is exactly that form (amz_date round-trips).
std::optional<system_clock::time_point> parse_amz_date(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  const auto number = [&](std::size_t at, std::size_t len) {
    int value = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const int year = number(0, 4), month = number(4, 2), day = number(6, 2);
  const int hour = number(9, 2), minute = number(11, 2), second = number(13, 2);
  if (std::min({year, month, day, hour, minute, second}) < 0) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  const auto time = std::chrono::sys_days(date) + std::chrono::hours(hour) +
                    std::chrono::minutes(minute) + std::chrono::seconds(second);
  if (provider::amz_date(time) != text) return std::nullopt;
  return time;
}

// "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b,
// Signature=hex" as its three parameters.
struct Authorization {
  std::vector<std::string_view> credential;  // AKID, date, region, service, aws4_request
  std::vector<std::string_view> signed_headers;
  std::string_view signature;
};

std::optional<Authorization> parse_authorization(std::string_view value) {
  constexpr std::string_view kScheme = "AWS4-HMAC-SHA256 ";
  if (!value.starts_with(kScheme)) return std::nullopt;
  std::map<std::string_view, std::string_view> params;
  for (const std::string_view part : split(value.substr(kScheme.size()), ',')) {
    const std::string_view param = trimmed(part);
    const std::size_t eq = param.find('=');
    if (eq != std::string_view::npos) params[param.substr(0, eq)] = param.substr(eq + 1);
  }
  if (!params.count("Credential") || !params.count("SignedHeaders") || !params.count("Signature")) {
    return std::nullopt;
  }
  Authorization out{split(params["Credential"], '/'), split(params["SignedHeaders"], ';'),
                    params["Signature"]};
  if (out.credential.size() != 5 || out.credential[4] != "aws4_request") return std::nullopt;
  return out;
}

BedrockError invalid_signature(std::string message) {
  return {403, "InvalidSignatureException", std::move(message)};
}

// The signer adds these itself from its arguments; every other signed header is passed in.
bool signer_owned(std::string_view name) {
  return name == "host" || name == "x-amz-date" || name == "x-amz-security-token" ||
         name == "x-amz-content-sha256" || name == "authorization";
}

std::optional<BedrockError> signature_denial(const SimEndpoint& spec, const ArrivedRequest& req,
                                             std::string_view header,
                                             system_clock::time_point now) {
  const std::optional<Authorization> auth = parse_authorization(header);
  if (!auth) {
    return BedrockError{400, "IncompleteSignatureException",
                        "Authorization header requires 'Credential', 'SignedHeaders' and "
                        "'Signature' parameters. Authorization=" +
                            std::string(header.substr(0, header.find("Signature=")))};
  }
  if (auth->credential[0] != spec.aws_access_key_id) {
    return BedrockError{403, "UnrecognizedClientException",
                        "The security token included in the request is invalid."};
  }
  const std::string_view date_header = first_value(req, "x-amz-date");
  const std::optional<system_clock::time_point> signed_at = parse_amz_date(date_header);
  if (!signed_at) {
    return BedrockError{400, "IncompleteSignatureException",
                        "Authorization header requires existence of a valid 'X-Amz-Date' header."};
  }
  if (auth->credential[1] != date_header.substr(0, 8)) {
    return invalid_signature(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
        "version of date from HTTP: '" +
        std::string(auth->credential[1]) + "' != '" + std::string(date_header.substr(0, 8)) +
        "', from 'X-Amz-Date'.");
  }
  if (auth->credential[2] != spec.aws_region) {
    return invalid_signature("Credential should be scoped to a valid region, not '" +
                             std::string(auth->credential[2]) + "'. ");
  }
  if (auth->credential[3] != "bedrock") {
    return invalid_signature("Credential should be scoped to correct service: 'bedrock'. ");
  }
  if (*signed_at < now - kMaxSkew) {
    return invalid_signature("Signature expired: " + std::string(date_header) +
                             " is now earlier than " + provider::amz_date(now - kMaxSkew) + " (" +
                             provider::amz_date(now) + " - 5 min.)");
  }
  if (*signed_at > now + kMaxSkew) {
    return invalid_signature("Signature not yet current: " + std::string(date_header) +
                             " is still later than " + provider::amz_date(now + kMaxSkew) + " (" +
                             provider::amz_date(now) + " + 5 min.)");
  }

  const auto is_signed = [&](std::string_view name) {
    return std::find(auth->signed_headers.begin(), auth->signed_headers.end(), name) !=
           auth->signed_headers.end();
  };
  const std::string_view path = req.target.substr(0, req.target.find('?'));
  const std::string_view query =
      path.size() < req.target.size() ? req.target.substr(path.size() + 1) : std::string_view();
  provider::SigV4Request expected{.method = req.method,
                                  .host = first_value(req, "host"),
                                  .path = path,
                                  .query = query,
                                  .payload = req.payload,
                                  .region = spec.aws_region,
                                  .service = "bedrock",
                                  .time = *signed_at};
  expected.credentials = {spec.aws_access_key_id, spec.aws_secret_access_key,
                          is_signed("x-amz-security-token")
                              ? std::string(first_value(req, "x-amz-security-token"))
                              : std::string()};
  expected.add_content_sha256_header = is_signed("x-amz-content-sha256");
  for (const std::string_view name : auth->signed_headers) {
    if (signer_owned(name)) continue;
    for (const std::string_view value : values_of(req, name)) {
      expected.headers.push_back({std::string(name), std::string(value)});
    }
  }
  const std::optional<provider::SigV4Signature> signature = provider::sign_v4(expected);
  if (signature && signature->signature == auth->signature) return std::nullopt;
  // As AWS does, the message shows what the signature was computed over.
  return invalid_signature(
      "The request signature we calculated does not match the signature you provided. Check "
      "your AWS Secret Access Key and signing method. Consult the service documentation for "
      "details.\n\nThe Canonical String for this request should have been\n'" +
      (signature ? signature->canonical_request : std::string()) +
      "'\n\nThe String-to-Sign should have been\n'" +
      (signature ? signature->string_to_sign : std::string()) + "'\n");
}

}  // namespace

std::optional<BedrockError> bedrock_auth_denial(const SimEndpoint& spec, const ArrivedRequest& req,
                                                system_clock::time_point now) {
  if (spec.api_key.empty() && spec.aws_secret_access_key.empty()) return std::nullopt;
  const std::string_view header = first_value(req, "authorization");
  if (header.empty()) {
    return BedrockError{403, "MissingAuthenticationTokenException", "Missing Authentication Token"};
  }
  if (header.starts_with("Bearer ")) {
    if (!spec.api_key.empty() && header.substr(7) == spec.api_key) return std::nullopt;
    return bedrock_error(403, "AccessDeniedException",
                         "Authentication failed: Please make sure your API Key is valid.");
  }
  if (spec.aws_secret_access_key.empty()) {
    return BedrockError{403, "UnrecognizedClientException",
                        "The security token included in the request is invalid."};
  }
  return signature_denial(spec, req, header, now);
}

}  // namespace fulcrum::sim
