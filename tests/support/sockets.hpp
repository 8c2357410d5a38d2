#pragma once
// The TCP sockets a process holds, read from /proc: how tests see connections pile up in
// CLOSE_WAIT, or a pool give its connections back.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fulcrum::testing {

struct TcpSocket {
  std::uint16_t local_port = 0;
  std::uint16_t remote_port = 0;
  std::string state;  // "ESTABLISHED", "CLOSE_WAIT", "LISTEN", ...
};

// Every IPv4 and IPv6 TCP socket whose descriptor `pid` holds.
std::vector<TcpSocket> tcp_sockets_of(pid_t pid);

// How many of them are connected to `remote_port` (in any state but LISTEN), or in `state`.
int connections_to(pid_t pid, std::uint16_t remote_port, const std::string& state = "");

}  // namespace fulcrum::testing
