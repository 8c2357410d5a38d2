#include "response_pins.hpp"

namespace fulcrum::net {

void ResponsePins::pin(std::string_view response_id, Pin value) {
  if (response_id.empty() || capacity_ == 0) return;
  std::string id(response_id);
  const std::lock_guard lock(mutex_);
  if (pins_.contains(id)) return;  // an id is the upstream's: the first answer that named it stands
  order_.push_back(id);
  pins_.emplace(std::move(id), Entry{std::move(value), std::prev(order_.end())});
  if (pins_.size() > capacity_) {
    pins_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<ResponsePins::Pin> ResponsePins::find(std::string_view response_id,
                                                    std::string_view owner) const {
  const std::lock_guard lock(mutex_);
  const auto it = pins_.find(std::string(response_id));
  if (it == pins_.end() || it->second.pin.owner != owner) return std::nullopt;
  return it->second.pin;
}

void ResponsePins::forget(std::string_view response_id) {
  const std::lock_guard lock(mutex_);
  const auto it = pins_.find(std::string(response_id));
  if (it == pins_.end()) return;
  order_.erase(it->second.age);
  pins_.erase(it);
}

std::size_t ResponsePins::size() const {
  const std::lock_guard lock(mutex_);
  return pins_.size();
}

}  // namespace fulcrum::net
