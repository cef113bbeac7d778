#pragma once

// One queue holder per root. Two nodes claiming from the same tasks/ would
// both recover the other's claims at start and run them again (a second
// result replaces the first), so `serve` and `orchestrator` hold
// <root>/.troupe.lock (flock, exclusive) for their whole life. The kernel
// drops the lock when the process ends, even by SIGKILL: a stale file never
// blocks a restart. The file's text names the holder, for the refusal.
//
// flock is local to a machine: two hosts sharing a root over a network
// file system may not see each other's lock (share a Redis queue instead).

#include <string>

namespace troupe {

/// The lock file's name under the root.
inline constexpr const char* root_lock_name = ".troupe.lock";

class root_lock {
public:
  /// Takes the root's lock for `role` ("serve", "orchestrator"), creating
  /// the root if needed. On failure `error()` says why, naming the holder.
  root_lock(const std::string& root, const std::string& role);
  ~root_lock();
  root_lock(const root_lock&) = delete;
  root_lock& operator=(const root_lock&) = delete;

  bool held() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

  /// The refusal for a root held as `holder_text` describes (the lock
  /// file's JSON; anything else is shown as unknown). Pure, for tests.
  static std::string refusal(const std::string& root, const std::string& holder_text);

private:
  int fd_ = -1;
  std::string error_;
};

} // namespace troupe
