#pragma once
// Client API keys → principals. Keys are configured as SHA-256 hashes; a presented key is
// hashed and compared in constant time against every configured hash.
#include <array>
#include <string>
#include <string_view>

#include "fulcrum/config/config.hpp"
#include "fulcrum/core/expected.hpp"

namespace fulcrum::auth {

using Digest = std::array<unsigned char, 32>;

// Who a request acts for.
struct Principal {
  const config::ApiKey* key = nullptr;  // null: anonymous (auth mode open)
  std::size_t key_index = 0;            // into Config::keys, when key is set

  std::string_view id() const { return key != nullptr ? std::string_view(key->id) : "anonymous"; }
  std::string_view team() const { return key != nullptr ? std::string_view(key->team) : "none"; }
};

enum class AuthFailure { missing_key, unknown_key };

Digest sha256(std::string_view data);
std::string to_hex(const Digest& digest);

// From the request's Authorization header ("Bearer <key>"). In open mode a missing or unknown
// key is anonymous; in required mode it is a failure.
core::Expected<Principal, AuthFailure> authenticate(std::string_view authorization,
                                                    const config::Config& config);

}  // namespace fulcrum::auth
