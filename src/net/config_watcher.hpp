#pragma once
// Reloads the config when its file changes: inotify on the file's directory, so that every
// way of saving counts (in-place writes, editors that write a temporary file and rename it
// over the original, Kubernetes ConfigMaps that swap a `..data` symlink), debounced so a
// burst of writes makes one reload.
#include <functional>
#include <memory>
#include <string>

#include "fulcrum/core/duration.hpp"
#include "fulcrum/net/asio.hpp"

namespace fulcrum::net {

class ConfigWatcher {
 public:
  static constexpr auto kDebounce = std::chrono::milliseconds(100);

  // `on_change` runs on `io` once the file has been quiet for kDebounce after a change.
  ConfigWatcher(asio::io_context& io, const std::string& path, std::function<void()> on_change);
  ~ConfigWatcher();

  // Logs a warning and watches nothing when inotify is unavailable; SIGHUP and
  // POST /admin/reload still work then.
  void start();

 private:
  awaitable<void> read_events();
  void schedule_reload();

  std::string directory_;
  std::string file_name_;
  std::function<void()> on_change_;
  stream_descriptor inotify_;
  steady_timer debounce_;
};

}  // namespace fulcrum::net
