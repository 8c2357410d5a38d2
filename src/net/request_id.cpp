#include "request_id.hpp"

#include <random>

namespace fulcrum::net {
namespace {

std::uint32_t process_nonce() {
  static const std::uint32_t nonce = std::random_device{}();
  return nonce;
}

void write_hex(char* out, std::uint64_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i, value >>= 4) out[i] = kHex[value & 0xf];
}

}  // namespace

RequestIdSource::RequestIdSource(unsigned worker)
    : prefix_((static_cast<std::uint64_t>(process_nonce()) << 8) | (worker & 0xff)) {}

RequestId RequestIdSource::next() {
  RequestId id;
  write_hex(id.text_.data(), prefix_, 10);
  write_hex(id.text_.data() + 10, ++counter_, 14);
  return id;
}

}  // namespace fulcrum::net
