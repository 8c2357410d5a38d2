#pragma once
// Base64 (RFC 4648, the standard alphabet, with padding): Bedrock wraps each Anthropic event of
// an InvokeModel stream in it; OpenAI's embeddings may come as it.
#include <optional>
#include <string>
#include <string_view>

namespace fulcrum::core {

std::string base64_encode(std::string_view bytes);

// nullopt for anything but canonical base64 (a length that is not a multiple of 4, a byte
// outside the alphabet, padding anywhere but the end).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace fulcrum::core
