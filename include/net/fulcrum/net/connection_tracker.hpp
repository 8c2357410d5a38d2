#pragma once
// The client connections of one worker, so that a drain can close the idle ones at once and
// let the busy ones finish their response. Touched only on its worker's thread, except the
// counters, which the drain coroutine reads from another worker.
#include <atomic>
#include <unordered_map>
#include <utility>

#include "fulcrum/net/client_stream.hpp"

namespace fulcrum::net {

class ConnectionTracker {
 public:
  class Busy;

  // A connection's entry, removed when the registration goes out of scope however its
  // coroutine ends (a return, an exception, a frame destroyed at shutdown): the tracker never
  // holds a pointer to a stream that no longer exists.
  class Registration {
   public:
    Registration(ConnectionTracker* tracker, ClientStream* stream);
    Registration(Registration&& other) noexcept
        : tracker_(std::exchange(other.tracker_, nullptr)), stream_(other.stream_) {}
    Registration& operator=(Registration&&) = delete;
    ~Registration();

    bool draining() const { return tracker_ != nullptr && tracker_->draining(); }

   private:
    friend class ConnectionTracker::Busy;
    ConnectionTracker* tracker_;  // null: untracked (the admin listener)
    ClientStream* stream_;
  };

  // Marks the connection busy (a request head arrived, its response is not finished) for
  // the scope's lifetime.
  class Busy {
   public:
    explicit Busy(const Registration& registration);
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
    ~Busy();

   private:
    const Registration& registration_;
  };

  // Closes idle connections now; busy ones close after their current response.
  void start_draining();
  bool draining() const { return draining_; }
  // The drain deadline passed: closes every connection, busy or not.
  void close_all();

  int busy() const { return busy_.load(std::memory_order_relaxed); }
  int open() const { return open_.load(std::memory_order_relaxed); }

 private:
  void add(ClientStream* stream);
  void remove(ClientStream* stream);
  void set_busy(ClientStream* stream, bool busy);

  std::unordered_map<ClientStream*, bool> connections_;  // stream → busy
  bool draining_ = false;
  std::atomic<int> busy_{0};
  std::atomic<int> open_{0};
};

}  // namespace fulcrum::net
