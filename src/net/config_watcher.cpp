#include "config_watcher.hpp"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "fulcrum/net/spawn.hpp"

namespace fulcrum::net {
namespace {

// Kubernetes mounts a ConfigMap as symlinks into a `..data` directory it swaps atomically.
constexpr std::string_view kConfigMapSwap = "..data";

}  // namespace

ConfigWatcher::ConfigWatcher(asio::io_context& io, const std::string& path,
                             std::function<void()> on_change)
    : on_change_(std::move(on_change)), inotify_(io), debounce_(io) {
  const std::filesystem::path file(path);
  directory_ = file.has_parent_path() ? file.parent_path().string() : ".";
  file_name_ = file.filename().string();
}

ConfigWatcher::~ConfigWatcher() = default;

void ConfigWatcher::start() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    spdlog::warn("config_watch_unavailable reason={}", std::strerror(errno));
    return;
  }
  // The directory, not the file: a rename over the file would end a watch on the file itself.
  if (::inotify_add_watch(fd, directory_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
    spdlog::warn("config_watch_unavailable directory={} reason={}", directory_,
                 std::strerror(errno));
    ::close(fd);
    return;
  }
  inotify_.assign(fd);
  asio::co_spawn(inotify_.get_executor(), read_events(), log_if_thrown("config_watcher"));
  spdlog::info("config_watch directory={} file={}", directory_, file_name_);
}

awaitable<void> ConfigWatcher::read_events() {
  std::array<char, 4096> buffer;
  for (;;) {
    error_code ec;
    const std::size_t size = co_await inotify_.async_read_some(asio::buffer(buffer), as_result(ec));
    if (ec) co_return;  // closed: the gateway stops
    bool relevant = false;
    for (std::size_t at = 0; at + sizeof(inotify_event) <= size;) {
      // Copied out: GCC 12 does not honour alignas for a coroutine's locals, so the buffer
      // may sit at any address.
      std::uint32_t length = 0;
      std::memcpy(&length, buffer.data() + at + offsetof(inotify_event, len), sizeof length);
      const char* name_start = buffer.data() + at + sizeof(inotify_event);
      const std::size_t room = std::min<std::size_t>(length, size - at - sizeof(inotify_event));
      const std::string_view name(name_start, ::strnlen(name_start, room));
      relevant |= name == file_name_ || name == kConfigMapSwap;
      at += sizeof(inotify_event) + length;
    }
    if (relevant) schedule_reload();
  }
}

void ConfigWatcher::schedule_reload() {
  // Re-arming cancels the pending wait: the reload happens once the writes stop.
  debounce_.expires_after(kDebounce);
  debounce_.async_wait([this](const error_code& ec) {
    if (!ec) on_change_();
  });
}

}  // namespace fulcrum::net
