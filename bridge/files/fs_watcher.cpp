#include "bridge/files/fs_watcher.hpp"

#include <cerrno>
#include <cstring>
#include <string_view>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "bridge/files/fs_queue.hpp" // parked_marker

namespace troupe {

fs_watcher::fs_watcher(std::string root, std::vector<std::string> workers,
                       callback cb)
  : root_(std::move(root)), workers_(std::move(workers)), cb_(std::move(cb)) {
}

fs_watcher::~fs_watcher() {
  stop();
}

std::string fs_watcher::start() {
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0)
    return std::string{"inotify_init1: "} + std::strerror(errno);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  for (auto& w : workers_) {
    auto add = [&](const std::string& dir, kind k) -> std::string {
      int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(),
                                   IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_ONLYDIR);
      if (wd < 0)
        return "cannot watch " + dir + ": " + std::strerror(errno);
      watches_[wd] = {k, w};
      return {};
    };
    if (auto err = add(root_ + "/tasks/" + w, kind::task); !err.empty())
      return err;
    if (auto err = add(root_ + "/results/" + w, kind::result); !err.empty())
      return err;
  }
  running_ = true;
  thread_ = std::thread([this] { loop(); });
  return {};
}

void fs_watcher::stop() {
  if (running_.exchange(false)) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
    thread_.join();
  }
  if (inotify_fd_ >= 0)
    ::close(inotify_fd_);
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
  inotify_fd_ = wake_fd_ = -1;
}

void fs_watcher::loop() {
  alignas(inotify_event) char buf[64 * 1024];
  while (running_) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR)
      break;
    if (fds[1].revents)
      break;
    for (;;) {
      auto n = ::read(inotify_fd_, buf, sizeof(buf));
      if (n <= 0)
        break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        if (ev->mask & IN_Q_OVERFLOW) {
          cb_(kind::rescan, {}, {});
          continue;
        }
        auto i = watches_.find(ev->wd);
        if (i == watches_.end() || ev->len == 0 || (ev->mask & IN_ISDIR))
          continue;
        if (ev->mask & IN_DELETE) {
          // Only one removal means anything: the worker's park marker.
          if (i->second.first == kind::task && std::string_view{ev->name} == parked_marker)
            cb_(kind::unparked, i->second.second, ev->name);
          continue;
        }
        cb_(i->second.first, i->second.second, ev->name);
      }
    }
  }
}

} // namespace troupe
