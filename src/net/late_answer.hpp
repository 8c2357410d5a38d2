#pragma once
// An attempt abandoned at its first_byte timeout may still be answered: the upstream has
// spent the tokens, and someone pays for them. Its connection is read on in the background,
// up to the attempt's total deadline, and the answer's usage is metered (tokens, cost,
// budgets, a ledger row with outcome "abandoned"). The client never sees it: another target
// answered, or the request failed, meanwhile.
#include <memory>
#include <string>

#include "fulcrum/api/request.hpp"
#include "fulcrum/auth/authenticator.hpp"
#include "fulcrum/net/asio.hpp"
#include "runtime.hpp"
#include "upstream_pool.hpp"

namespace fulcrum::net {

struct LateAnswer {
  std::shared_ptr<const Snapshot> snapshot;  // keeps every view and pointer below alive
  std::size_t alias = 0;                     // Config::models index
  std::size_t target = 0;                    // into that alias's targets
  std::size_t route = 0;
  std::size_t slo_class = 0;
  // The API the client spoke, which the endpoint's provider reads the answer by.
  api::Operation operation = api::Operation::chat_completions;
  std::string request_id;
  auth::Principal principal;
  core::Clock::time_point attempt_started;
  core::Clock::time_point deadline;  // the attempt's total deadline
  SharedState* shared = nullptr;     // the worker's, when budgets are shared in Redis
  bool flex = false;                 // the attempt asked for the flex tier: billed at its price
};

// Runs on the worker that owned the attempt; ends at the deadline at the latest.
awaitable<void> meter_late_answer(std::unique_ptr<UpstreamConnection> connection, LateAnswer late,
                                  Runtime& runtime);

}  // namespace fulcrum::net
