#include "fulcrum/auth/authenticator.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace fulcrum::auth {

Digest sha256(std::string_view data) {
  // Fetched once: EVP_sha256() looks the algorithm up (under a lock) on every digest.
  static const EVP_MD* const kFetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* const sha256 = kFetched != nullptr ? kFetched : EVP_sha256();
  Digest digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, sha256, nullptr);
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
