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

#include "cpu_time.hpp"
#include "spawn_true.hpp"

int main(int argc, char** argv) {
  int count = argc > 1 ? std::atoi(argv[1]) : 3000;
  std::vector<int> shapes;
  for (int i = 2; i < argc; ++i)
    shapes.push_back(std::atoi(argv[i]));
  if (shapes.empty())
    shapes = {1, 2, 12};
  using troupe::bench::spawner;
  for (auto how : {spawner::posix_spawn, spawner::troupe})
  for (int threads : shapes) {
    std::atomic<int> left{count};
    auto t0 = std::chrono::steady_clock::now();
    auto self0 = troupe::bench::cpu_seconds(RUSAGE_SELF);
    auto child0 = troupe::bench::cpu_seconds(RUSAGE_CHILDREN);
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i)
      pool.emplace_back([&] {
        while (left.fetch_sub(1) > 0)
          troupe::bench::spawn_true(how);
      });
    for (auto& t : pool)
      t.join();
    double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("bare %s of /bin/true, %d threads, %d processes: %.0f/s"
                " (CPU per process: %.0f us here, %.0f us in the child)\n",
                troupe::bench::name(how), threads, count, count / s,
                (troupe::bench::cpu_seconds(RUSAGE_SELF) - self0) * 1e6 / count,
                (troupe::bench::cpu_seconds(RUSAGE_CHILDREN) - child0) * 1e6 / count);
    std::fflush(stdout);
  }
  return 0;
}
