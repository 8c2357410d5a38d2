#include "fulcrum/net/connection_tracker.hpp"

namespace fulcrum::net {

ConnectionTracker::Registration::Registration(ConnectionTracker* tracker, ClientStream* stream)
    : tracker_(tracker), stream_(stream) {
  if (tracker_ != nullptr) tracker_->add(stream_);
}

ConnectionTracker::Registration::~Registration() {
  if (tracker_ != nullptr) tracker_->remove(stream_);
}

ConnectionTracker::Busy::Busy(const Registration& registration) : registration_(registration) {
  if (registration_.tracker_ != nullptr)
    registration_.tracker_->set_busy(registration_.stream_, true);
}

ConnectionTracker::Busy::~Busy() {
  if (registration_.tracker_ != nullptr) {
    registration_.tracker_->set_busy(registration_.stream_, false);
  }
}

void ConnectionTracker::add(ClientStream* stream) {
  connections_.emplace(stream, false);
  open_.fetch_add(1, std::memory_order_relaxed);
}

void ConnectionTracker::remove(ClientStream* stream) {
  const auto it = connections_.find(stream);
  if (it == connections_.end()) return;
  if (it->second) busy_.fetch_sub(1, std::memory_order_relaxed);
  connections_.erase(it);
  open_.fetch_sub(1, std::memory_order_relaxed);
}

void ConnectionTracker::set_busy(ClientStream* stream, bool busy) {
  const auto it = connections_.find(stream);
  if (it == connections_.end() || it->second == busy) return;
  it->second = busy;
  busy_.fetch_add(busy ? 1 : -1, std::memory_order_relaxed);
}

void ConnectionTracker::start_draining() {
  draining_ = true;
  for (auto& [stream, busy] : connections_) {
    // Wakes the session's pending read with operation_aborted; it then ends quietly.
    if (!busy) stream->close();
  }
}

void ConnectionTracker::close_all() {
  draining_ = true;
  for (auto& [stream, busy] : connections_) {
    stream->close();
  }
}

}  // namespace fulcrum::net
