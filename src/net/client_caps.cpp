#include "fulcrum/net/client_caps.hpp"

namespace fulcrum::net {

void ClientCaps::Slot::reset() {
  if (caps_ != nullptr) caps_->release(address_);
  caps_ = nullptr;
}

std::optional<ClientCaps::Slot> ClientCaps::admit(const asio::ip::address& client,
                                                  const config::Limits& limits,
                                                  std::string_view& refused) {
  const Address address =
      client.is_v4() ? asio::ip::make_address_v6(asio::ip::v4_mapped, client.to_v4()).to_bytes()
                     : client.to_v6().to_bytes();
  const std::lock_guard lock(mutex_);
  if (total_.load(std::memory_order_relaxed) >= limits.max_connections) {
    refused = "on this server";
    return std::nullopt;
  }
  std::size_t& mine = per_client_[address];
  if (mine >= limits.max_connections_per_client) {
    if (mine == 0) per_client_.erase(address);
    refused = "from your address";
    return std::nullopt;
  }
  ++mine;
  total_.fetch_add(1, std::memory_order_relaxed);
  return Slot(this, address);
}

void ClientCaps::release(const Address& address) {
  const std::lock_guard lock(mutex_);
  total_.fetch_sub(1, std::memory_order_relaxed);
  const auto it = per_client_.find(address);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

}  // namespace fulcrum::net
