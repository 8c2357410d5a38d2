#pragma once
// One endpoint as the gateway meets it in the replay: it answers after its model's time to
// first token and time per output token, cold-starts after idling past `after_idle`
// (scale-to-zero serverless), and beyond its slots (provisioned) keeps requests in its own
// queue, first come first served, as a serving engine does (fulcrum-sim's max_concurrency).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "fulcrum/replay/replay.hpp"
#include "fulcrum/router/live_state.hpp"

namespace fulcrum::replay {

using router::TimePoint;

TimePoint after(TimePoint at, double seconds);

class Upstream {
 public:
  // A request sent here: its flight, how much it generates, whether it streams.
  struct Job {
    std::size_t flight = 0;
    std::int64_t output_tokens = 0;
    bool stream = false;
  };
  // When a job's answer starts reaching the client and when it ends.
  struct Service {
    std::size_t flight = 0;
    TimePoint first_byte;
    TimePoint finished;
    bool cold = false;
  };

  explicit Upstream(const EndpointModel& model) : model_(model) {}

  // The job's service when it starts at once; none when it waits for a slot here.
  std::optional<Service> arrive(const Job& job, TimePoint at);
  // A job ended at `at`: the next one waiting here starts now.
  std::optional<Service> finish(TimePoint at);
  // A prewarm ping answered: the endpoint counts as active.
  void keep_warm(TimePoint at) { last_active_ = at; }

  unsigned generating() const { return generating_; }
  unsigned queued() const { return static_cast<unsigned>(queue_.size()); }
  double busy_seconds() const { return busy_seconds_; }
  std::uint64_t cold_starts() const { return cold_starts_; }

 private:
  Service start(const Job& job, TimePoint at, bool cold);

  const EndpointModel& model_;
  unsigned generating_ = 0;
  std::deque<Job> queue_;
  std::optional<TimePoint> last_active_;
  double busy_seconds_ = 0;
  std::uint64_t cold_starts_ = 0;
};

}  // namespace fulcrum::replay
