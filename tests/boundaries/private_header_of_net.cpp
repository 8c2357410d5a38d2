// Must NOT compile, even for a target that depends on net: runtime.hpp is private to net
// (src/net/), not part of its public include directory.
#include "runtime.hpp"

int probe() { return 0; }
