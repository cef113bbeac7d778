#include "core/process.hpp"

#include "core/spawn.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <mutex>
#include <map>
#include <set>

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;

/// Closes a descriptor once.
struct fd_guard {
  int fd = -1;
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
};

bool make_pipe(fd_guard& r, fd_guard& w) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return false;
  r.fd = fds[0];
  w.fd = fds[1];
  return true;
}

void set_nonblocking(int fd) {
  // F_SETFL only touches the status flags, and a fresh pipe end has none:
  // no F_GETFL needed.
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  return -1;
#endif
}

void ignore_sigpipe_once() {
  // A child that closes stdin early must give us EPIPE, not kill the node.
  static std::once_flag flag;
  std::call_once(flag, [] { ::signal(SIGPIPE, SIG_IGN); });
}

/// Reads once what poll said `fd` has into `sink(data, n)`; returns false at
/// EOF or a hard error. The read ends stay blocking (no fcntl per spawn):
/// after poll reports data or a hang-up, one read never blocks, and poll
/// says when there is more.
template <class Sink>
bool read_available(int fd, Sink&& sink) {
  char buf[65536];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      sink(buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0)
      return false;
    if (errno == EINTR)
      continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

/// Appends what `fd` has, up to `cap`; the rest is dropped.
bool drain(int fd, std::string& dst, size_t cap, bool& truncated) {
  return read_available(fd, [&](const char* p, size_t n) {
    auto room = cap > dst.size() ? cap - dst.size() : 0;
    if (n > room)
      truncated = true;
    dst.append(p, std::min(n, room));
  });
}

/// Stdout handed over line by line: `pending` holds the unfinished line.
struct line_splitter {
  const std::function<void(std::string_view)>& sink;
  size_t cap;
  std::string pending;
  bool cut = false; // the current line passed the cap

  void feed(const char* p, size_t n, bool& truncated) {
    while (n > 0) {
      auto nl = static_cast<const char*>(std::memchr(p, '\n', n));
      size_t take = nl ? static_cast<size_t>(nl - p) : n;
      auto room = cap > pending.size() ? cap - pending.size() : 0;
      if (take > room) {
        cut = truncated = true;
      }
      pending.append(p, std::min(take, room));
      if (!nl)
        return;
      flush();
      p = nl + 1;
      n -= take + 1;
    }
  }
  void flush() {
    if (!pending.empty() || cut)
      sink(pending);
    pending.clear();
    cut = false;
  }
};

/// Like drain, into a line splitter.
bool drain_lines(int fd, line_splitter& ls, bool& truncated) {
  return read_available(
    fd, [&](const char* p, size_t n) { ls.feed(p, n, truncated); });
}

/// Process groups of the children being supervised, for shutdown.
std::mutex live_mtx;
std::set<pid_t> live_groups;
int stop_signal = 0; // set by stop_all_children: new children get it at once
/// Children that may be cancelled, by cancel key: their group and the pipe
/// that wakes their supervision loop.
struct cancellable {
  pid_t pgid;
  int wake_fd;
};
std::map<std::string, cancellable> by_cancel_key;
std::set<std::string> cancel_pending; // asked before the child existed

} // namespace

size_t signal_all_children(int sig) {
  std::lock_guard<std::mutex> guard{live_mtx};
  for (auto pgid : live_groups)
    ::kill(-pgid, sig);
  return live_groups.size();
}

size_t stop_all_children(int sig) {
  {
    std::lock_guard<std::mutex> guard{live_mtx};
    stop_signal = sig;
  }
  return signal_all_children(sig);
}

namespace {
std::mutex listener_mtx;
std::function<void(const std::string&)> cancel_listener;
} // namespace

void on_cancel_child(std::function<void(const std::string& key)> listener) {
  std::lock_guard<std::mutex> guard{listener_mtx};
  cancel_listener = std::move(listener);
}

bool cancel_child(const std::string& key) {
  bool found = false;
  {
    std::lock_guard<std::mutex> guard{live_mtx};
    auto i = by_cancel_key.find(key);
    if (i == by_cancel_key.end()) {
      cancel_pending.insert(key);
    } else {
      // The word first, then the signal: whenever the child dies of it,
      // its supervisor can already read why.
      char one = 1;
      [[maybe_unused]] auto n = ::write(i->second.wake_fd, &one, 1);
      ::kill(-i->second.pgid, SIGTERM);
      found = true;
    }
  }
  std::lock_guard<std::mutex> guard{listener_mtx};
  if (cancel_listener)
    cancel_listener(key);
  return found;
}

void forget_cancel(const std::string& key) {
  std::lock_guard<std::mutex> guard{live_mtx};
  cancel_pending.erase(key);
}

std::string process_outcome::describe() const {
  if (!started)
    return "could not start: " + start_error;
  if (cancelled)
    return "cancelled";
  if (timed_out)
    return "killed at its deadline";
  if (stalled)
    return "killed after a stall (no output)";
  if (term_signal != 0)
    return "killed by signal " + std::to_string(term_signal);
  return "exit code " + std::to_string(exit_code);
}

std::vector<std::string> inherit_env(const std::vector<std::string>& names) {
  std::vector<std::string> env;
  for (auto& n : names)
    if (auto v = std::getenv(n.c_str()))
      env.push_back(n + "=" + v);
  return env;
}

process_outcome run_process(const process_spec& spec) {
  ignore_sigpipe_once();
  process_outcome res;
  auto t0 = clock_type::now();
  if (spec.argv.empty()) {
    res.start_error = "empty command";
    return res;
  }
  fd_guard in_r, in_w, out_r, out_w, err_r, err_w;
  if (!make_pipe(in_r, in_w) || !make_pipe(out_r, out_w)
      || !make_pipe(err_r, err_w)) {
    res.start_error = std::string{"pipe: "} + std::strerror(errno);
    return res;
  }
  pid_t pid = spawn_in_own_group(
    {&spec.argv, &spec.env, &spec.cwd, in_r.fd, out_w.fd, err_w.fd},
    res.start_error);
  in_r.reset();
  out_w.reset();
  err_w.reset();
  if (pid < 0) {
    res.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        clock_type::now() - t0)
                        .count();
    return res;
  }
  res.started = true;
  // Written by cancel_child: wakes the loop below.
  fd_guard cancel_r, cancel_w;
  bool cancel_now = false;
  if (!spec.cancel_key.empty() && !make_pipe(cancel_r, cancel_w)) {
    cancel_r.reset();
    cancel_w.reset();
  }
  {
    // Under the lock that stop_all_children takes: either it sees this
    // group, or we see its signal.
    std::lock_guard<std::mutex> guard{live_mtx};
    live_groups.insert(pid);
    if (stop_signal != 0)
      ::kill(-pid, stop_signal);
    if (!spec.cancel_key.empty()) {
      if (cancel_w.fd >= 0)
        by_cancel_key[spec.cancel_key] = {pid, cancel_w.fd};
      cancel_now = cancel_pending.erase(spec.cancel_key) > 0;
      if (cancel_now)
        ::kill(-pid, SIGTERM);
    }
  }
  if (cancel_r.fd >= 0) {
    set_nonblocking(cancel_r.fd);
    set_nonblocking(cancel_w.fd); // cancel_child never blocks under the lock
  }
  // Only the stdin end is non-blocking: a prompt larger than the pipe is
  // written as the child reads it, never blocking the supervision loop.
  if (!spec.stdin_data.empty())
    set_nonblocking(in_w.fd);
  fd_guard pidfd;
  pidfd.fd = open_pidfd(pid);
  size_t written = 0;
  // Writes what the pipe takes now; closes stdin once all is written.
  auto feed_stdin = [&] {
    while (written < spec.stdin_data.size()) {
      auto w = ::write(in_w.fd, spec.stdin_data.data() + written,
                       spec.stdin_data.size() - written);
      if (w > 0) {
        written += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        if (w < 0 && errno != EAGAIN)
          written = spec.stdin_data.size(); // EPIPE: reader is gone
        break;
      }
    }
    if (written >= spec.stdin_data.size())
      in_w.reset(); // an empty prompt closes at once: the CLI must not wait
  };
  // Most prompts fit the pipe: written before the first poll, not after.
  feed_stdin();
  auto deadline = t0 + spec.deadline;
  auto kill_at = clock_type::time_point::max();
  bool killing = false; // SIGTERM sent (deadline or stall)
  auto stall_limit = spec.stall_timeout.count() > 0
                       ? spec.stall_timeout
                       : std::chrono::milliseconds::max();
  auto last_output = t0;
  auto stall_at = [&] {
    return stall_limit == std::chrono::milliseconds::max()
             ? clock_type::time_point::max()
             : last_output + stall_limit;
  };
  line_splitter lines{spec.on_line, spec.max_output, {}, false};
  bool exited = false;
  int wstatus = 0;
  auto reap = [&](bool block) {
    // Peek first (WNOWAIT): while the leader is a zombie its pid, and so the
    // group id, cannot be reused, so signalling the group is safe.
    siginfo_t si{};
    if (::waitid(P_PID, pid, &si, WEXITED | WNOWAIT | (block ? 0 : WNOHANG)) != 0
        || si.si_pid != pid)
      return;
    // Whatever the child left behind in its group goes with it.
    ::kill(-pid, SIGKILL);
    {
      std::lock_guard<std::mutex> guard{live_mtx};
      live_groups.erase(pid);
      if (!spec.cancel_key.empty())
        by_cancel_key.erase(spec.cancel_key);
    }
    ::waitpid(pid, &wstatus, 0);
    exited = true;
  };
  // After the child exits, wait a little for the pipes to reach EOF (data
  // still buffered), but never for descendants that escaped the group.
  auto linger_until = clock_type::time_point::max();
  while (out_r.fd >= 0 || err_r.fd >= 0 || !exited) {
    auto now = clock_type::now();
    if (cancel_now && !killing && !exited) {
      // SIGTERM went out with the cancel; SIGKILL follows after the grace.
      killing = true;
      kill_at = now + spec.kill_grace;
    }
    if (!exited && !killing && (now >= deadline || now >= stall_at())) {
      (now >= deadline ? res.timed_out : res.stalled) = true;
      killing = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + spec.kill_grace;
    }
    if (!exited && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at = clock_type::time_point::max();
    }
    if (exited && linger_until == clock_type::time_point::max())
      linger_until = now + std::chrono::milliseconds(200);
    if (exited && now >= linger_until)
      break;
    pollfd fds[5];
    int n = 0;
    int i_in = -1, i_out = -1, i_err = -1, i_pid = -1, i_cancel = -1;
    if (cancel_r.fd >= 0 && !cancel_now) {
      fds[n] = {cancel_r.fd, POLLIN, 0};
      i_cancel = n++;
    }
    if (in_w.fd >= 0) {
      fds[n] = {in_w.fd, POLLOUT, 0};
      i_in = n++;
    }
    if (out_r.fd >= 0) {
      fds[n] = {out_r.fd, POLLIN, 0};
      i_out = n++;
    }
    if (err_r.fd >= 0) {
      fds[n] = {err_r.fd, POLLIN, 0};
      i_err = n++;
    }
    if (!exited && pidfd.fd >= 0) {
      fds[n] = {pidfd.fd, POLLIN, 0};
      i_pid = n++;
    }
    auto next = std::min({exited ? linger_until : clock_type::time_point::max(),
                          killing ? kill_at : std::min(deadline, stall_at())});
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     next - now)
                     .count()
                   + 1;
    if (pidfd.fd < 0 && !exited)
      wait_ms = std::min<int64_t>(wait_ms, 10); // no pidfd: poll for exit
    wait_ms = std::max<int64_t>(0, std::min<int64_t>(wait_ms, 60000));
    auto pr = ::poll(fds, n, static_cast<int>(wait_ms));
    if (pr < 0 && errno != EINTR)
      break;
    if (i_cancel >= 0 && fds[i_cancel].revents)
      cancel_now = true;
    if (i_in >= 0 && (fds[i_in].revents & (POLLOUT | POLLERR | POLLHUP)))
      feed_stdin();
    if (i_out >= 0 && fds[i_out].revents) {
      last_output = clock_type::now();
      bool open = spec.on_line
                    ? drain_lines(out_r.fd, lines, res.truncated)
                    : drain(out_r.fd, res.out, spec.max_output, res.truncated);
      if (!open)
        out_r.reset();
    }
    if (i_err >= 0 && fds[i_err].revents
        && !drain(err_r.fd, res.err, spec.max_output, res.truncated))
      err_r.reset();
    if (!exited && (pidfd.fd < 0 || (i_pid >= 0 && fds[i_pid].revents)))
      reap(false);
  }
  if (!exited) {
    ::kill(-pid, SIGKILL);
    reap(true);
  }
  if (!spec.cancel_key.empty()) {
    // Gone before it was reaped above (a poll error): never leave it named.
    std::lock_guard<std::mutex> guard{live_mtx};
    if (auto i = by_cancel_key.find(spec.cancel_key);
        i != by_cancel_key.end() && i->second.pgid == pid)
      by_cancel_key.erase(i);
  }
  if (spec.on_line)
    lines.flush(); // a last line without its newline
  if (WIFEXITED(wstatus))
    res.exit_code = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus))
    res.term_signal = WTERMSIG(wstatus);
  if (char c; !cancel_now && cancel_r.fd >= 0 && ::read(cancel_r.fd, &c, 1) == 1)
    cancel_now = true; // it came as the child died, after the last poll
  // Asked to stop, it ended however the signal made it end; only one that
  // had succeeded by itself before the cancel came keeps its outcome.
  res.cancelled = cancel_now && !(res.term_signal == 0 && res.exit_code == 0);
  res.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      clock_type::now() - t0)
                      .count();
  return res;
}

std::string host_name(const std::string& fallback) {
  char h[256] = {};
  if (::gethostname(h, sizeof h - 1) != 0 || h[0] == '\0')
    return fallback;
  return h;
}

} // namespace troupe
