#pragma once
// Where an answer becomes money: the one function that meters, for requests the client got an
// answer to (or a refusal) and for late answers nobody waits for alike. Tokens and cost go to
// the metrics, the provisioned meter, budget spend (settling the request's reservation),
// rate-limit settlement and the ledger row.
#include <optional>
#include <string_view>

#include "attempt.hpp"
#include "fulcrum/auth/authenticator.hpp"
#include "fulcrum/auth/rate_limiter.hpp"
#include "fulcrum/metering/budgets.hpp"
#include "runtime.hpp"

namespace fulcrum::net {

// Tokens × price at the margin; for provisioned endpoints the charge is the amortized share of
// the hourly price for `held` (see metering/provisioned.hpp). `flex`: served at the flex tier,
// at the target's flex price.
Charge charge_for(const config::Endpoint& endpoint, const config::Target& target,
                  const core::Usage& usage, core::Clock::duration held, bool flex);

struct MeterEvent {
  explicit MeterEvent(const std::shared_ptr<const Snapshot>& of) : snapshot(of) {}

  const std::shared_ptr<const Snapshot>& snapshot;  // the ledger row keeps it alive
  std::string_view request_id;
  auth::Principal principal;
  std::optional<std::size_t> alias;  // the alias the client named, when known
  // The target that answered (or was tried last), as (alias, target) indexes.
  std::optional<std::pair<std::size_t, std::size_t>> target;
  bool answered = false;  // the target answered (else: no target served the request)
  std::optional<std::size_t> route;
  std::optional<std::size_t> slo_class;
  metering::Outcome outcome = metering::Outcome::success;
  // An abandoned attempt's late answer: its usage is charged, but it is not a request.
  bool late = false;
  unsigned status = 0;
  unsigned attempts = 0;
  std::optional<core::Usage> usage;
  bool usage_estimated = false;
  Charge charge;
  core::Clock::time_point started;
  core::Clock::time_point finished;
  std::optional<core::Clock::time_point> first_byte;
  core::Clock::duration queued{};  // waited in the gateway's queues for a provisioned slot
};

// Settles `budget` (or `shared`, when the request's holds are in Redis) with the marginal
// cost and `rate` with the tokens used. A late answer has no reservation: its cost is added
// to the budgets that cover it. With state.redis (`shared_state`, the worker's), spend the
// replica's own book admitted reaches Redis too.
void meter_event(const MeterEvent& event, Runtime& runtime, metering::BudgetReservation& budget,
                 auth::RateReservation& rate, SharedHolds& shared, SharedState* shared_state);

}  // namespace fulcrum::net
