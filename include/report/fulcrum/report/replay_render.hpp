#pragma once
// `fulcrum replay`'s result (replay/replay.hpp) rendered like the breakeven report: stable
// JSON, a text table, or one self-contained HTML page.
#include <string>

#include "fulcrum/replay/replay.hpp"

namespace fulcrum::report {

// Schema "fulcrum.replay/v1": fields are only ever added.
std::string replay_json(const replay::Replay& replay);
std::string replay_text(const replay::Replay& replay);
std::string replay_html(const replay::Replay& replay);

}  // namespace fulcrum::report
