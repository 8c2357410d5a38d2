#pragma once
// Each endpoint of the policy as the replay models it, learnt from the ledger rows it served:
// warm time to first token (of rows that found room: a wait in a queue is the replay's to add),
// time per output token, what a cold start adds. An endpoint the ledger never shows keeps the
// policy's seeds (`latency`, `cold_start.p50`).
#include <vector>

#include "fulcrum/config/config.hpp"
#include "fulcrum/replay/replay.hpp"

namespace fulcrum::replay {

// `recorded_run` is the config the rows were recorded under (the baseline, else the policy):
// its `cold_start.after_idle` and prewarm windows tell which rows came after a cold start.
std::vector<EndpointModel> learn_models(const std::vector<RecordedRequest>& rows,
                                        const config::Config& policy,
                                        const config::Config& recorded_run);

}  // namespace fulcrum::replay
