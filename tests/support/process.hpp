#pragma once
// Runs a child process for a test, collecting its stdout and stderr line by line, so a test can
// wait for "listening ..." and later search everything the process printed.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace fulcrum::testing {

class Process {
 public:
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // The first capture group of the first line matching `pattern`, waiting up to `timeout`.
  std::optional<std::string> wait_for(const std::regex& pattern,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The first `count` lines matching `pattern`, waiting up to `timeout` for them; fewer on
  // timeout or exit.
  std::vector<std::string> wait_for_lines(
      const std::regex& pattern, std::size_t count,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::vector<std::string> lines() const;
  pid_t pid() const { return pid_; }
  void signal(int number);
  // Waits for the process to exit on its own (then SIGTERM, as stop(), after `timeout`);
  // returns the wait status once its whole output has been read.
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGTERM, then SIGKILL if it has not exited after a grace period; returns the exit status.
  int stop();

 private:
  void read_output(int fd);

  std::vector<std::string> argv_storage_;
  std::vector<std::string> env_storage_;
  pid_t pid_ = -1;
  int output_fd_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  bool closed_ = false;
  std::optional<int> status_;
};

}  // namespace fulcrum::testing
