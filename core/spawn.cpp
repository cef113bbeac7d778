#include "core/spawn.hpp"

#include <cerrno>
#include <cstdint>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe {

namespace {

// The child runs only the system calls below before exec: a few hundred
// bytes of stack. glibc gives its own spawn helper 32 KiB; so do we, twice.
constexpr size_t child_stack_size = 64 * 1024;

/// Everything the child needs, prepared by the parent: the child must not
/// allocate or take a lock (it runs in the parent's memory while the parent
/// thread waits, and another thread may hold the allocator's lock).
struct child_plan {
  char* const* paths = nullptr; // where to look for argv[0], in order
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr; // nullptr: stay where the parent is
  const cpu_set_t* cpus = nullptr; // nullptr: the parent thread's CPUs
  int fds[3] = {-1, -1, -1};
  // Written by the child when it fails; read once it has exited.
  enum class step { none, setpgid, dup2, chdir, exec } failed = step::none;
  int err = 0;
};

/// The kernel's struct sigaction (not glibc's, whose mask is 128 bytes).
struct kernel_sigaction {
  void (*handler)(int) = SIG_DFL;
  unsigned long flags = 0;
  void (*restorer)() = nullptr;
  uint64_t mask = 0;
};

// The child calls no function that a sanitizer intercepts (their
// interceptors would run in the parent's memory, on the parent thread's
// state): raw system calls for dup2 and _exit. Under TSan its code is not
// instrumented either, and clone is libc's own (see libc_clone).
#if defined(__SANITIZE_THREAD__)
#define TROUPE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TROUPE_TSAN 1
#endif
#endif
#ifdef TROUPE_TSAN
#define TROUPE_CHILD_CODE __attribute__((no_sanitize("thread")))
#else
#define TROUPE_CHILD_CODE
#endif

[[noreturn]] TROUPE_CHILD_CODE void child_fails(child_plan& c, child_plan::step step) {
  c.err = errno;
  c.failed = step;
  for (;;)
    ::syscall(SYS_exit_group, 127);
}

TROUPE_CHILD_CODE int child_main(void* arg) {
  auto& c = *static_cast<child_plan*>(arg);
  // Own group: a deadline kills the child and everything it started.
  if (::setpgid(0, 0) != 0)
    child_fails(c, child_plan::step::setpgid);
  for (int target = 0; target < 3; ++target) {
    int fd = c.fds[target];
    // dup2 onto itself would keep close-on-exec: clear it instead.
    if (fd == target ? ::fcntl(fd, F_SETFD, 0) != 0 : ::syscall(SYS_dup3, fd, target, 0) < 0)
      child_fails(c, child_plan::step::dup2);
  }
  if (c.cwd != nullptr && ::chdir(c.cwd) != 0)
    child_fails(c, child_plan::step::chdir);
  // An agent is not confined to the cores troupe's own threads are pinned
  // to (set_children_cpus). Best effort: a CPU gone from the container's set
  // leaves it where it is.
  if (c.cpus != nullptr)
    ::syscall(SYS_sched_setaffinity, 0, sizeof(cpu_set_t), c.cpus);
  // Every signal is blocked here (the parent blocked them before cloning).
  // A handler of the parent's must not run in this shared memory once they
  // are unblocked, and an ignored signal would stay ignored across exec:
  // the agent gets every disposition at its default, as a shell would start
  // it. Raw system calls, because glibc's wrappers refuse its own two
  // signals (32, 33), which a parent may have inherited ignored.
  kernel_sigaction dfl{};
  for (int sig = 1; sig <= 64; ++sig) {
    kernel_sigaction old{};
    if (sig == SIGKILL || sig == SIGSTOP
        || ::syscall(SYS_rt_sigaction, sig, nullptr, &old, sizeof(uint64_t)) != 0)
      continue;
    if (old.handler != SIG_DFL)
      ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  }
  uint64_t none = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof(uint64_t));
  // As execvp: try each place; a place we may not enter is remembered, a
  // missing one skipped, anything else ends the search.
  bool denied = false;
  for (auto p = c.paths; *p != nullptr; ++p) {
    ::execve(*p, c.argv, c.envp);
    if (errno == EACCES)
      denied = true;
    else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE
             && errno != ENODEV && errno != ETIMEDOUT)
      child_fails(c, child_plan::step::exec);
  }
  if (denied)
    errno = EACCES;
  child_fails(c, child_plan::step::exec);
}

/// Where execvp would look for `name`.
std::vector<std::string> candidates(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return {name};
  std::vector<std::string> out;
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr && *path != '\0' ? path : "/bin:/usr/bin";
  for (;;) {
    auto colon = rest.find(':');
    auto dir = rest.substr(0, colon);
    out.push_back((dir.empty() ? std::string{"."} : std::string{dir}) + "/" + name);
    if (colon == std::string_view::npos)
      break;
    rest.remove_prefix(colon + 1);
  }
  return out;
}

std::vector<char*> c_strings(const std::vector<std::string>& xs) {
  std::vector<char*> out;
  out.reserve(xs.size() + 1);
  for (auto& x : xs)
    out.push_back(const_cast<char*>(x.c_str()));
  out.push_back(nullptr);
  return out;
}

/// glibc's clone. TSan intercepts clone as a fork: in the child it resets
/// its own state (threads, descriptors), which with CLONE_VM is the
/// parent's, and every later report is noise. The child is no thread TSan
/// needs to know of: it runs while the parent thread waits, and execs.
auto libc_clone() {
#ifdef TROUPE_TSAN
  using fn = int (*)(int (*)(void*), void*, int, void*, ...);
  static const fn real = [] {
    void* libc = ::dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    auto f = libc != nullptr ? reinterpret_cast<fn>(::dlsym(libc, "clone")) : nullptr;
    return f != nullptr ? f : &::clone;
  }();
  return real;
#else
  return &::clone;
#endif
}

// Set once, before any thread that spawns exists; read-only after.
cpu_set_t children_cpus;
bool children_cpus_set = false;

} // namespace

void set_children_cpus(const cpu_set_t& cpus) {
  children_cpus = cpus;
  children_cpus_set = true;
}

pid_t spawn_in_own_group(const spawn_request& req, std::string& error) {
  // One stack per thread, kept: runner threads start thousands of children.
  thread_local std::unique_ptr<char[]> stack;
  if (!stack) // not zeroed: only the pages the child touches become resident
    stack.reset(new char[child_stack_size]);
  auto paths = candidates(req.argv->at(0));
  auto path_ptrs = c_strings(paths);
  auto argv = c_strings(*req.argv);
  auto envp = c_strings(*req.env);
  child_plan c;
  c.paths = path_ptrs.data();
  c.argv = argv.data();
  c.envp = envp.data();
  c.cwd = req.cwd != nullptr && !req.cwd->empty() ? req.cwd->c_str() : nullptr;
  c.cpus = children_cpus_set ? &children_cpus : nullptr;
  c.fds[0] = req.stdin_fd;
  c.fds[1] = req.stdout_fd;
  c.fds[2] = req.stderr_fd;
  // No signal may reach the child before it has reset its dispositions,
  // glibc's own two included (pthread_sigmask would leave those out);
  // CLONE_VFORK holds this thread until the child has exec'd or exited.
  uint64_t all = ~uint64_t{0}, old = 0;
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof(uint64_t));
  pid_t pid = libc_clone()(child_main, stack.get() + child_stack_size,
                           CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
  int clone_err = errno; // only meaningful if clone failed: the child shares errno
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, sizeof(uint64_t));
  if (pid < 0) {
    error = std::string{"clone: "} + std::strerror(clone_err);
    return -1;
  }
  if (c.failed != child_plan::step::none) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::string why = std::strerror(c.err);
    using step = child_plan::step;
    switch (c.failed) {
      case step::chdir: error = "working directory " + *req.cwd + ": " + why; break;
      case step::exec: error = req.argv->at(0) + ": " + why; break;
      case step::setpgid: error = "setpgid: " + why; break;
      default: error = "dup2: " + why; break;
    }
    return -1;
  }
  return pid;
}

} // namespace troupe
