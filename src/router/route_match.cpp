#include <algorithm>

#include "fulcrum/router/plan.hpp"

namespace fulcrum::router {
namespace {

bool matches(const config::RouteMatch& match, const RouteInput& input, const config::Config& config,
             std::optional<std::size_t> tier) {
  if (!match.aliases.empty()) {
    const auto alias = static_cast<std::size_t>(input.alias - config.models.data());
    if (std::find(match.aliases.begin(), match.aliases.end(), alias) == match.aliases.end()) {
      return false;
    }
  }
  for (const config::HeaderMatch& header : match.headers) {
    const std::string_view value =
        header.header < input.header_values.size() ? input.header_values[header.header] : "";
    if (std::find(header.values.begin(), header.values.end(), value) == header.values.end()) {
      return false;
    }
  }
  const std::uint64_t tokens = input.prompt.estimated_tokens;
  if (match.min_prompt_tokens && tokens < *match.min_prompt_tokens) return false;
  if (match.max_prompt_tokens && tokens > *match.max_prompt_tokens) return false;
  if (match.time && !match.time->window.contains(match.time->zone.local(input.wall_now))) {
    return false;
  }
  if (!match.tiers.empty() &&
      (!tier || std::find(match.tiers.begin(), match.tiers.end(), *tier) == match.tiers.end())) {
    return false;
  }
  return true;
}

}  // namespace

std::size_t match_route(const RouteInput& input, const config::Config& config,
                        std::optional<std::size_t> tier) {
  for (std::size_t i = 0; i + 1 < config.routes.size(); ++i) {
    if (matches(config.routes[i].match, input, config, tier)) return i;
  }
  return config.routes.size() - 1;  // the catch-all "default"
}

}  // namespace fulcrum::router
