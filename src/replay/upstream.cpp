#include "upstream.hpp"

namespace fulcrum::replay {

TimePoint after(TimePoint at, double seconds) {
  return at +
         std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(seconds));
}

std::optional<Upstream::Service> Upstream::arrive(const Job& job, TimePoint at) {
  // Idle is counted from the last arrival or answer, whichever came later; an endpoint still
  // answering is not idle (as the ledger's cold rows are told apart, endpoint_model.cpp).
  const bool cold = model_.cold_start && generating_ == 0 &&
                    (!last_active_ || at - *last_active_ > model_.cold_start->after_idle);
  last_active_ = at;
  if (model_.slots > 0 && generating_ >= model_.slots) {
    queue_.push_back(job);
    return std::nullopt;
  }
  ++generating_;
  return start(job, at, cold);
}

std::optional<Upstream::Service> Upstream::finish(TimePoint at) {
  last_active_ = at;
  if (queue_.empty()) {
    --generating_;
    return std::nullopt;
  }
  // The slot passes straight to the oldest waiting job.
  const Job next = queue_.front();
  queue_.pop_front();
  return start(next, at, false);
}

Upstream::Service Upstream::start(const Job& job, TimePoint at, bool cold) {
  Service s;
  s.flight = job.flight;
  s.cold = cold;
  if (cold) ++cold_starts_;
  const double first_token = (cold ? model_.cold_start_seconds : 0) + model_.ttft_seconds;
  const double generation =
      static_cast<double>(job.output_tokens) * model_.seconds_per_output_token;
  s.finished = after(at, first_token + generation);
  // A whole answer's first byte is its end.
  s.first_byte = job.stream ? after(at, first_token) : s.finished;
  busy_seconds_ += first_token + generation;
  return s;
}

}  // namespace fulcrum::replay
