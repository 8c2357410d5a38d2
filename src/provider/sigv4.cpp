// AWS Signature Version 4: the canonical request, the string to sign and the signing key
// chain, with OpenSSL's SHA-256 and HMAC.
#include "fulcrum/provider/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>

namespace fulcrum::provider {
namespace {

using Digest = std::array<unsigned char, 32>;

// With OpenSSL's default provider SHA-256 and HMAC fail only when memory allocation does; the
// signer then gives no signature at all rather than a wrong one.
std::optional<Digest> sha256(std::string_view data) {
  Digest out{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr) != 1) {
    return std::nullopt;
  }
  return out;
}

std::optional<Digest> hmac_sha256(std::string_view key, std::string_view data) {
  Digest out{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &size) == nullptr) {
    return std::nullopt;
  }
  return out;
}

std::string_view as_view(const Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

std::string hex(const Digest& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * digest.size());
  for (unsigned char byte : digest) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0xF]);
  }
  return out;
}

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Trimmed, every run of whitespace inside collapsed to one space (SigV4 "Trimall").
std::string trim_all(std::string_view value) {
  std::string out;
  for (std::size_t i = 0; i < value.size();) {
    if (!is_space(value[i])) {
      out.push_back(value[i++]);
      continue;
    }
    while (i < value.size() && is_space(value[i])) ++i;
    if (!out.empty() && i < value.size()) out.push_back(' ');
  }
  return out;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Malformed escapes stay literal, so they are then encoded as "%25..." like any other '%'.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool signer_owned(std::string_view lower_name) {
  return lower_name == "host" || lower_name == "authorization" || lower_name == "x-amz-date" ||
         lower_name == "x-amz-security-token" || lower_name == "x-amz-content-sha256";
}

struct Parts {
  std::string date;  // x-amz-date
  std::string payload_hash;
  std::string signed_headers;
  std::string canonical_request;
};

std::optional<Parts> canonicalize(const SigV4Request& r) {
  const std::optional<Digest> payload_digest = sha256(r.payload);
  if (!payload_digest) return std::nullopt;
  Parts p{amz_date(r.time), hex(*payload_digest), {}, {}};
  std::vector<HttpHeader> headers = {{"host", trim_all(r.host)}, {"x-amz-date", p.date}};
  if (!r.credentials.session_token.empty()) {
    headers.push_back({"x-amz-security-token", trim_all(r.credentials.session_token)});
  }
  if (r.add_content_sha256_header) headers.push_back({"x-amz-content-sha256", p.payload_hash});
  for (const HttpHeader& h : r.headers) {
    std::string name = lowercase(h.name);
    if (!signer_owned(name)) headers.push_back({std::move(name), trim_all(h.value)});
  }
  // Stable: repeated headers keep their order when joined with ','.
  std::stable_sort(headers.begin(), headers.end(),
                   [](const HttpHeader& a, const HttpHeader& b) { return a.name < b.name; });
  std::string lines;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const bool repeat = i > 0 && headers[i].name == headers[i - 1].name;
    if (repeat) {
      lines.back() = ',';  // replaces the previous line's '\n'
    } else {
      if (!p.signed_headers.empty()) p.signed_headers.push_back(';');
      p.signed_headers += headers[i].name;
      lines += headers[i].name + ':';
    }
    lines += headers[i].value + '\n';
  }
  p.canonical_request.append(r.method).append("\n");
  p.canonical_request += canonical_uri(r.path) + '\n' + canonical_query(r.query) + '\n';
  p.canonical_request += lines + '\n' + p.signed_headers + '\n' + p.payload_hash;
  return p;
}

std::string scope(const SigV4Request& r, std::string_view date) {
  std::string out(date.substr(0, 8));
  out.append("/").append(r.region).append("/").append(r.service).append("/aws4_request");
  return out;
}

// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyymmdd), region), service), "aws4_request").
std::optional<Digest> signing_key(const SigV4Request& r, std::string_view day) {
  std::optional<Digest> key = hmac_sha256("AWS4" + r.credentials.secret_access_key, day);
  for (const std::string_view step : {r.region, r.service, std::string_view("aws4_request")}) {
    if (!key) break;
    key = hmac_sha256(as_view(*key), step);
  }
  return key;
}

}  // namespace

std::string amz_date(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto day = floor<days>(time);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(time - day)};
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string aws_uri_encode(std::string_view bytes, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += {'%', kDigits[byte >> 4], kDigits[byte & 0xF]};
    }
  }
  return out;
}

std::string canonical_uri(std::string_view wire_path) {
  std::vector<std::string_view> segments;
  for (std::size_t start = 0; start <= wire_path.size();) {
    const std::size_t end = std::min(wire_path.find('/', start), wire_path.size());
    const std::string_view segment = wire_path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out = "/";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    out += aws_uri_encode(segments[i], false);
  }
  if (!segments.empty() && wire_path.ends_with('/')) out.push_back('/');
  return out;
}

std::string canonical_query(std::string_view wire_query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!wire_query.empty()) {
    const std::size_t amp = wire_query.find('&');
    const std::string_view pair = wire_query.substr(0, amp);
    wire_query = amp == std::string_view::npos ? std::string_view{} : wire_query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    const std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    pairs.emplace_back(aws_uri_encode(percent_decode(pair.substr(0, eq)), false),
                       aws_uri_encode(percent_decode(value), false));
  }
  std::sort(pairs.begin(), pairs.end());  // by encoded name, then encoded value
  std::string out;
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) out.push_back('&');
    out.append(name).append("=").append(value);
  }
  return out;
}

std::optional<SigV4Signature> sign_v4(const SigV4Request& request) {
  std::optional<Parts> parts = canonicalize(request);
  if (!parts) return std::nullopt;
  const std::optional<Digest> request_digest = sha256(parts->canonical_request);
  if (!request_digest) return std::nullopt;
  SigV4Signature out;
  out.string_to_sign = "AWS4-HMAC-SHA256\n" + parts->date + '\n' + scope(request, parts->date) +
                       '\n' + hex(*request_digest);
  const std::optional<Digest> key =
      signing_key(request, std::string_view(parts->date).substr(0, 8));
  if (!key) return std::nullopt;
  const std::optional<Digest> signature = hmac_sha256(as_view(*key), out.string_to_sign);
  if (!signature) return std::nullopt;
  out.signature = hex(*signature);

  out.headers.push_back({"X-Amz-Date", parts->date});
  if (!request.credentials.session_token.empty()) {
    out.headers.push_back({"X-Amz-Security-Token", request.credentials.session_token});
  }
  if (request.add_content_sha256_header) {
    out.headers.push_back({"X-Amz-Content-Sha256", parts->payload_hash});
  }
  out.headers.push_back(
      {"Authorization", "AWS4-HMAC-SHA256 Credential=" + request.credentials.access_key_id + '/' +
                            scope(request, parts->date) + ", SignedHeaders=" +
                            parts->signed_headers + ", Signature=" + out.signature});
  out.canonical_request = std::move(parts->canonical_request);
  return out;
}

}  // namespace fulcrum::provider
