#pragma once
// Caps on open client connections, in all and per client address, shared by every worker's
// acceptor (server.limits.max_connections, max_connections_per_client): a flood from one
// address cannot take every socket the gateway has.
#include <array>
#include <atomic>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "fulcrum/config/config.hpp"
#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {

class ClientCaps {
 public:
  using Address = std::array<unsigned char, 16>;  // IPv4 as v4-mapped IPv6

  // A connection's place under the caps, given back when it is destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(ClientCaps* caps, Address address) : caps_(caps), address_(address) {}
    Slot(Slot&& other) noexcept
        : caps_(std::exchange(other.caps_, nullptr)), address_(other.address_) {}
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        reset();
        caps_ = std::exchange(other.caps_, nullptr);
        address_ = other.address_;
      }
      return *this;
    }
    ~Slot() { reset(); }

   private:
    void reset();

    ClientCaps* caps_ = nullptr;
    Address address_{};
  };

  // A slot, or nullopt with `refused` naming the cap that is reached.
  std::optional<Slot> admit(const asio::ip::address& client, const config::Limits& limits,
                            std::string_view& refused);

  std::size_t open() const { return total_.load(std::memory_order_relaxed); }

 private:
  void release(const Address& address);

  std::atomic<std::size_t> total_{0};
  std::mutex mutex_;  // taken once per connection, never per request
  std::map<Address, std::size_t> per_client_;
};

}  // namespace fulcrum::net
