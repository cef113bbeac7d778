// The floor under the /bin/true benchmark: how many processes this machine
// can start and reap per second with nothing else going on. Each thread
// spawns /bin/true with its three standard streams on pipes, as the command
// executor does, reads stdout to EOF and reaps it. No actors, no JSON.
//
//   bench_spawn_floor [count] [threads...]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

void spawn_one() {
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

} // namespace

int main(int argc, char** argv) {
  int count = argc > 1 ? std::atoi(argv[1]) : 3000;
  std::vector<int> shapes;
  for (int i = 2; i < argc; ++i)
    shapes.push_back(std::atoi(argv[i]));
  if (shapes.empty())
    shapes = {1, 2, 12};
  for (int threads : shapes) {
    std::atomic<int> left{count};
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i)
      pool.emplace_back([&] {
        while (left.fetch_sub(1) > 0)
          spawn_one();
      });
    for (auto& t : pool)
      t.join();
    double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("bare posix_spawn of /bin/true, %d threads, %d processes: %.0f/s\n",
                threads, count, count / s);
    std::fflush(stdout);
  }
  return 0;
}
