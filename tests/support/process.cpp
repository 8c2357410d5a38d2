#include "process.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

extern char** environ;
#include <stdexcept>

namespace fulcrum::testing {

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env) {
  // Everything the child needs is built before fork(): between fork and exec a child of a
  // multi-threaded parent must not allocate (another thread may hold the malloc lock).
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view var(*entry);
    if (!env.count(std::string(var.substr(0, var.find('='))))) env_storage_.emplace_back(var);
  }
  for (const auto& [key, value] : env) env_storage_.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_storage_) envp.push_back(entry.data());
  envp.push_back(nullptr);
  argv_storage_ = std::move(argv);
  std::vector<char*> args;
  for (auto& arg : argv_storage_) args.push_back(arg.data());
  args.push_back(nullptr);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  output_fd_ = pipe_fds[0];
  reader_ = std::thread([this] { read_output(output_fd_); });
}

Process::~Process() {
  stop();
  if (reader_.joinable()) reader_.join();
  if (output_fd_ >= 0) close(output_fd_);
}

void Process::read_output(int fd) {
  std::string partial;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    partial.append(buffer, static_cast<std::size_t>(n));
    std::size_t newline;
    while ((newline = partial.find('\n')) != std::string::npos) {
      std::lock_guard lock(mutex_);
      lines_.push_back(partial.substr(0, newline));
      partial.erase(0, newline + 1);
      changed_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  if (!partial.empty()) lines_.push_back(partial);
  closed_ = true;
  changed_.notify_all();
}

std::optional<std::string> Process::wait_for(const std::regex& pattern,
                                             std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::size_t checked = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (; checked < lines_.size(); ++checked) {
      std::smatch match;
      if (std::regex_search(lines_[checked], match, pattern)) {
        return match.size() > 1 ? match[1].str() : match[0].str();
      }
    }
    if (closed_) return std::nullopt;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) return std::nullopt;
  }
}

std::vector<std::string> Process::wait_for_lines(const std::regex& pattern, std::size_t count,
                                                 std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::vector<std::string> found;
  std::size_t checked = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (; checked < lines_.size() && found.size() < count; ++checked) {
      if (std::regex_search(lines_[checked], pattern)) found.push_back(lines_[checked]);
    }
    if (found.size() >= count || closed_) return found;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) return found;
  }
}

std::vector<std::string> Process::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

void Process::signal(int number) {
  if (!status_) kill(pid_, number);
}

int Process::wait_exit(std::chrono::milliseconds timeout) {
  if (status_) return *status_;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = status;
      // The output may still be in the pipe: let the reader drain it.
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, std::chrono::seconds(5), [this] { return closed_; });
      return status;
    }
    usleep(10'000);
  }
  return stop();
}

int Process::stop() {
  if (status_) return *status_;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {  // up to 5 s of grace
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = status;
      return status;
    }
    usleep(50'000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  status_ = status;
  return status;
}

}  // namespace fulcrum::testing
