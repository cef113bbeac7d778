#include "node/run_control.hpp"

#include <cstring>
#include <string_view>

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "bridge/files/fs_queue.hpp" // the marker suffixes

namespace troupe::node {

run_control_watch::run_control_watch(
  const std::string& run_dir, std::function<void()> on_cancel,
  std::function<void(const std::string&, bool, const std::string&)> on_answer) {
  inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (inotify_fd_ < 0 || wake_fd_ < 0
      || ::inotify_add_watch(inotify_fd_, run_dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
    spdlog::warn("caf-node cancel --run cannot reach this run: {}: {}", run_dir,
                 std::strerror(errno));
    return;
  }
  thread_ = std::thread([this, run_dir, on_cancel = std::move(on_cancel),
                         on_answer = std::move(on_answer)] {
    bool cancelled = false;
    alignas(inotify_event) char buf[4096];
    for (;;) {
      pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR)
        return;
      if (fds[1].revents)
        return;
      auto n = ::read(inotify_fd_, buf, sizeof buf);
      for (char* p = buf; n > 0 && p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        if (ev->len == 0)
          continue;
        std::string name{ev->name};
        if (name == run_cancel_marker) {
          if (!cancelled)
            on_cancel(); // once is enough
          cancelled = true;
          continue;
        }
        for (bool yes : {true, false}) {
          auto id = fs_queue::marker_id(name, yes ? approve_suffix : reject_suffix);
          if (id.empty())
            continue;
          auto why = fs_queue::take_marker(run_dir + "/" + name);
          on_answer(id, yes, yes ? std::string{} : why);
        }
      }
    }
  });
}

run_control_watch::~run_control_watch() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  if (inotify_fd_ >= 0)
    ::close(inotify_fd_);
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

} // namespace troupe::node
