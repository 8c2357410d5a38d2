#include "sockets.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fulcrum::testing {
namespace {

const char* state_name(int code) {
  static const char* const kNames[] = {"",           "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
                                       "FIN_WAIT1",  "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
                                       "CLOSE_WAIT", "LAST_ACK",    "LISTEN",    "CLOSING"};
  return code > 0 && code < 12 ? kNames[code] : "UNKNOWN";
}

std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> inodes;
  std::error_code ec;
  const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(fds, ec)) {
    const auto target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  return inodes;
}

std::uint16_t port_of(const std::string& address) {  // "0100007F:1F90" → 8080
  return static_cast<std::uint16_t>(std::stoul(address.substr(address.find(':') + 1), nullptr, 16));
}

}  // namespace

std::vector<TcpSocket> tcp_sockets_of(pid_t pid) {
  const std::set<std::string> inodes = socket_inodes(pid);
  std::vector<TcpSocket> sockets;
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (!inodes.count(inode)) continue;
      sockets.push_back(
          {port_of(local), port_of(remote), state_name(std::stoi(state, nullptr, 16))});
    }
  }
  return sockets;
}

int connections_to(pid_t pid, std::uint16_t remote_port, const std::string& state) {
  int count = 0;
  for (const TcpSocket& socket : tcp_sockets_of(pid)) {
    if (socket.remote_port != remote_port || socket.state == "LISTEN") continue;
    if (state.empty() || socket.state == state) ++count;
  }
  return count;
}

}  // namespace fulcrum::testing
