// The shared-state backend's metrics: whether Redis answers, how long calls take, why they
// fail, and how often a feature fell back to its on_state_unavailable mode.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "fulcrum/metering/metrics.hpp"

namespace fulcrum::metering {

StateMeters& Metrics::state_meters(std::string_view backend) {
  if (state_) return *state_;
  state_ = std::make_unique<StateMeters>();
  StateMeters& m = *state_;
  const std::string name(backend);
  m.up = &prometheus::BuildGauge()
              .Name("fulcrum_state_backend_up")
              .Help(
                  "1 while the shared-state backend answers; 0 from when a worker stops "
                  "calling it (its circuit opens) until a call gets a reply again.")
              .Register(*registry_)
              .Add({{"backend", name}});
  // Loopback calls take tens of microseconds; the deadline is 5 ms by default.
  m.call_seconds = &prometheus::BuildHistogram()
                        .Name("fulcrum_state_backend_call_seconds")
                        .Help("Time from a call to the shared-state backend to its reply.")
                        .Register(*registry_)
                        .Add({{"backend", name}}, prometheus::Histogram::BucketBoundaries{
                                                      0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                      0.0025, 0.005, 0.01, 0.025, 0.1});
  auto& errors = prometheus::BuildCounter()
                     .Name("fulcrum_state_backend_errors_total")
                     .Help(
                         "Calls to the shared-state backend that got no usable reply, by "
                         "reason: timeout, connection, circuit_open (refused at once while "
                         "the backend is considered down), reply (an error reply).")
                     .Register(*registry_);
  m.timeouts = &errors.Add({{"backend", name}, {"reason", "timeout"}});
  m.connection_errors = &errors.Add({{"backend", name}, {"reason", "connection"}});
  m.circuit_open = &errors.Add({{"backend", name}, {"reason", "circuit_open"}});
  m.reply_errors = &errors.Add({{"backend", name}, {"reason", "reply"}});
  auto& unavailable = prometheus::BuildCounter()
                          .Name("fulcrum_state_unavailable_total")
                          .Help(
                              "Decisions a shared feature took by its on_state_unavailable "
                              "mode (local share or closed) because the backend did not "
                              "answer, by feature.")
                          .Register(*registry_);
  m.unavailable_capacity = &unavailable.Add({{"feature", "capacity"}});
  m.unavailable_rate_limits = &unavailable.Add({{"feature", "rate_limits"}});
  m.unavailable_budgets = &unavailable.Add({{"feature", "budgets"}});
  m.up->Set(0);
  return m;
}

}  // namespace fulcrum::metering
