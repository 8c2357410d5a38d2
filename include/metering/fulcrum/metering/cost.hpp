#pragma once
#include "fulcrum/config/config.hpp"
#include "fulcrum/core/money.hpp"
#include "fulcrum/core/usage.hpp"

namespace fulcrum::metering {

// What a request cost at the margin: serverless tokens × price (cached input at its own price);
// provisioned targets carry a zero price because their hours are paid for already.
core::Money marginal_cost(const config::Price& price, const core::Usage& usage);

}  // namespace fulcrum::metering
