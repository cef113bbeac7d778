#pragma once

// Starts one child process in its own process group, the way run_process
// needs it: argv with no shell, exactly the given environment, a working
// directory, its three standard streams on given descriptors, and every
// signal at its default disposition and unblocked.
//
// Why not posix_spawn: glibc maps a fresh stack for every child and unmaps
// it after, and on a machine with more than one core that unmap flushes the
// TLB of every core running this process, by interrupt. Measured on the
// /bin/true benchmark it was the largest single cost troupe's process paid
// per task. Here each thread keeps one child stack for good.

#include <string>
#include <vector>

#include <sched.h>
#include <sys/types.h>

namespace troupe {

struct spawn_request {
  const std::vector<std::string>* argv = nullptr; // argv[0] searched on PATH
  const std::vector<std::string>* env = nullptr;  // "KEY=value", nothing else
  const std::string* cwd = nullptr;               // empty: the caller's
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

/// Starts the child; returns its pid, which is also its process group.
/// On failure returns -1 and says why in `error` (nothing is left running).
/// argv[0] without a '/' is looked up on this process's PATH, as execvp
/// does.
pid_t spawn_in_own_group(const spawn_request& req, std::string& error);

/// From now on every child starts on `cpus`, whatever CPUs the spawning
/// thread is pinned to (see core/cpus.hpp). Call it before threads that
/// spawn exist.
void set_children_cpus(const cpu_set_t& cpus);

} // namespace troupe
