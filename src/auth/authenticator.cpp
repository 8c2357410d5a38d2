// SHA256_Init and friends are deprecated in OpenSSL 3 in favour of EVP, and kept on purpose:
// they compute the same digest without starting OpenSSL's provider machinery. Hashing the
// config through EVP at startup touched 2 MiB of libcrypto's pages, an eighth of the
// gateway's idle memory, in a process that may never use OpenSSL again. (Defined before any
// header: OpenSSL reads it once. An OpenSSL built without deprecated APIs, or one that must
// route every digest through a FIPS provider, would need EVP here again.)
#define OPENSSL_SUPPRESS_DEPRECATED

#include "fulcrum/auth/authenticator.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace fulcrum::auth {

Digest sha256(std::string_view data) {
  // No EVP: no algorithm lookup (under a lock) per digest, no provider to start.
  Digest digest{};
  SHA256_CTX context;
  SHA256_Init(&context);
  SHA256_Update(&context, data.data(), data.size());
  SHA256_Final(digest.data(), &context);
  return digest;
}

std::string to_hex(const Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char byte : digest) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out;
}

core::Expected<Principal, AuthFailure> authenticate(std::string_view authorization,
                                                    const config::Config& config) {
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view presented;
  if (authorization.size() > kBearer.size() && authorization.substr(0, kBearer.size()) == kBearer) {
    presented = authorization.substr(kBearer.size());
  }
  const bool required = config.auth_mode == config::AuthMode::required;
  if (presented.empty()) {
    if (required) return core::Unexpected{AuthFailure::missing_key};
    return Principal{};
  }
  // With no keys configured there is nothing to find, and nothing a hash could leak.
  if (config.keys.empty()) {
    if (required) return core::Unexpected{AuthFailure::unknown_key};
    return Principal{};
  }
  // Every configured hash is compared, whichever matches, so timing tells nothing.
  const Digest digest = sha256(presented);
  Principal found;
  for (std::size_t i = 0; i < config.keys.size(); ++i) {
    if (CRYPTO_memcmp(digest.data(), config.keys[i].sha256.data(), digest.size()) == 0) {
      found = Principal{&config.keys[i], i};
    }
  }
  if (found.key == nullptr && required) return core::Unexpected{AuthFailure::unknown_key};
  return found;
}

}  // namespace fulcrum::auth
