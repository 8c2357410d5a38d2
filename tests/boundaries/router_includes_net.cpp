// Must NOT compile: the router decides, it does no I/O; net is not one of its dependencies,
// so net's headers are not on its include path.
#include "fulcrum/net/asio.hpp"

int probe() { return 0; }
