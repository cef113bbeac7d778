#include "node/progress.hpp"
#include "core/outcome.hpp"

#include <cstdio>
#include <ctime>

#include <unistd.h>

namespace troupe::node {

progress_printer::progress_printer(size_t total, bool bar)
  : total_(total), tty_(bar && ::isatty(2) == 1) {
}

void progress_printer::on_event(const task_event& e) {
  if (e.kind == kind::parked) {
    std::fprintf(stderr, "%sworker %s parked: %s\n", tty_ ? "\r\033[K" : "",
                 e.worker.c_str(), e.detail.c_str());
    return;
  }
  if (e.task_id.empty())
    return; // run-level events are in the log, not on the console
  if (e.kind == "running")
    ++running_;
  else if (e.kind == "complete")
    ++complete_, running_ -= running_ > 0;
  else if (e.kind == "failed" || e.kind == "rejected"
           || e.kind == kind::cancelled) {
    ++failed_;
    // Dependents failed without running were never counted as running.
    if (e.detail.rfind("dependency_failed", 0) != 0)
      running_ -= running_ > 0;
  }
  auto now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char ts[16];
  std::strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
  if (tty_)
    std::fputs("\r\033[K", stderr);
  std::fprintf(stderr, "%s %-9s %s (%s)%s%s\n", ts, e.kind.c_str(),
               e.task_id.c_str(), e.worker.c_str(),
               e.detail.empty() ? "" : ": ", e.detail.c_str());
  if (tty_)
    draw_bar();
}

void progress_printer::draw_bar() {
  constexpr size_t width = 30;
  auto done = complete_ + failed_;
  size_t filled = total_ == 0 ? width : done * width / total_;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "[%s] %zu/%zu done, %zu running, %zu failed",
               bar.c_str(), done, total_, running_, failed_);
  std::fflush(stderr);
}

void progress_printer::close() {
  if (tty_)
    std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

} // namespace troupe::node
