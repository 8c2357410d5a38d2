#pragma once
// The client connections of one worker, so that a drain can close the idle ones at once and
// let the busy ones finish their response. Touched only on its worker's thread, except the
// counters, which the drain coroutine reads from another worker.
#include <atomic>
#include <unordered_map>

#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {

class ConnectionTracker {
 public:
  void add(beast::tcp_stream* stream);
  void remove(beast::tcp_stream* stream);
  // Busy: a request head has arrived and its response is not finished.
  void set_busy(beast::tcp_stream* stream, bool busy);

  // Closes idle connections now; busy ones close after their current response.
  void start_draining();
  bool draining() const { return draining_; }
  // The drain deadline passed: closes every connection, busy or not.
  void close_all();

  int busy() const { return busy_.load(std::memory_order_relaxed); }
  int open() const { return open_.load(std::memory_order_relaxed); }

 private:
  std::unordered_map<beast::tcp_stream*, bool> connections_;  // stream → busy
  bool draining_ = false;
  std::atomic<int> busy_{0};
  std::atomic<int> open_{0};
};

}  // namespace fulcrum::net
