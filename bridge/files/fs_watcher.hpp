#pragma once

// Watches tasks/<worker>/ and results/<worker>/ with inotify (no polling) on
// its own thread. A task file is reported once it is complete: when its
// writer closes it (direct writes) or when it is renamed in (atomic writes).

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace troupe {

class fs_watcher {
public:
  enum class kind {
    task,   // a file in tasks/<worker>/ was closed after writing or moved in
    result, // a file in results/<worker>/ appeared
    rescan, // the kernel dropped events: look at every folder again
    unparked, // tasks/<worker>/.parked was removed (caf-node unpark)
  };

  using callback
    = std::function<void(kind, const std::string& worker, const std::string& name)>;

  fs_watcher(std::string root, std::vector<std::string> workers, callback cb);
  ~fs_watcher();

  fs_watcher(const fs_watcher&) = delete;
  fs_watcher& operator=(const fs_watcher&) = delete;

  /// Adds the watches and starts the thread; returns an error or "".
  std::string start();

  /// Stops the thread (idempotent).
  void stop();

private:
  void loop();

  std::string root_;
  std::vector<std::string> workers_;
  callback cb_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  std::map<int, std::pair<kind, std::string>> watches_; // wd -> (kind, worker)
  std::thread thread_;
  std::atomic<bool> running_{false};
};

} // namespace troupe
