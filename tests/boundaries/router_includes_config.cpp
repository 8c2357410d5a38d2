// Must compile: the control for the probes that must not. The router depends on config.
#include "fulcrum/config/config.hpp"
#include "fulcrum/router/plan.hpp"

int probe() { return 0; }
