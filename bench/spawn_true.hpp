#pragma once

// One bare spawn of /bin/true with its three standard streams on pipes,
// stdout read to EOF, then reaped. Shared by the floor benchmarks, which
// measure what the machine allows with nothing of troupe around it: either
// with glibc's posix_spawn, or with the spawner troupe uses (a vfork-style
// clone on a kept stack, core/spawn.hpp), without its supervision loop.

#include <cstdio>
#include <cstdlib>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/spawn.hpp"

namespace troupe::bench {

enum class spawner { posix_spawn, troupe };

inline const char* name(spawner s) {
  return s == spawner::troupe ? "troupe's spawner" : "posix_spawn";
}

inline void spawn_true(spawner how = spawner::posix_spawn) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0
      || ::pipe2(err, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    std::exit(1);
  }
  pid_t pid = -1;
  int rc = 0;
  if (how == spawner::troupe) {
    static const std::vector<std::string> argv{"/bin/true"};
    static const std::vector<std::string> env{"PATH=/usr/bin:/bin"};
    static const std::string cwd;
    std::string error;
    pid = troupe::spawn_in_own_group({&argv, &env, &cwd, in[0], out[1], err[1]},
                                     error);
    rc = pid < 0 ? 1 : 0;
  } else {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    char arg0[] = "/bin/true";
    char env0[] = "PATH=/usr/bin:/bin";
    char* argv[] = {arg0, nullptr};
    char* envp[] = {env0, nullptr};
    rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
  }
  for (int fd : {in[0], in[1], out[1], err[1]})
    ::close(fd);
  if (rc != 0) {
    std::fprintf(stderr, "spawning /bin/true failed\n");
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
