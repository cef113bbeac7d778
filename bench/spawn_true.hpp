#pragma once

// One bare spawn of /bin/true the way troupe's command executor starts a
// process: its three standard streams on pipes, stdout read to EOF, then
// reaped. Shared by the floor benchmarks, which measure what the machine
// allows with nothing of troupe around it.

#include <cstdio>
#include <cstdlib>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe::bench {

inline void spawn_true() {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0
      || ::pipe2(err, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    std::exit(1);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  char arg0[] = "/bin/true";
  char env0[] = "PATH=/usr/bin:/bin";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {env0, nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  for (int fd : {in[0], in[1], out[1], err[1]})
    ::close(fd);
  if (rc != 0) {
    std::fprintf(stderr, "posix_spawn failed: %d\n", rc);
    std::exit(1);
  }
  char buf[256];
  while (::read(out[0], buf, sizeof(buf)) > 0) {
  }
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

} // namespace troupe::bench
