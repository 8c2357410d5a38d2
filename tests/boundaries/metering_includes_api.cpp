// Must NOT compile: metering and api are siblings (both below net); metering reads core's
// Usage, never api's request or wire types.
#include "fulcrum/api/request.hpp"

int probe() { return 0; }
