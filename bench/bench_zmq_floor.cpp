// The floor under the bridge's round trip: a bare ZeroMQ ping-pong between
// two processes over loopback TCP (no broker thread, no actors, no JSON).
//
//   bench_zmq_floor [port]
#include <zmq.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char** argv) {
  const int n = 3000;
  std::string ep = std::string{"tcp://127.0.0.1:"} + (argc > 1 ? argv[1] : "17777");
  pid_t pid = fork();
  if (pid == 0) {
    zmq::context_t ctx{1};
    zmq::socket_t s{ctx, zmq::socket_type::pair};
    s.connect(ep);
    for (int i = 0; i < n; ++i) {
      zmq::message_t m;
      (void)s.recv(m);
      s.send(m, zmq::send_flags::none);
    }
    return 0;
  }
  zmq::context_t ctx{1};
  zmq::socket_t s{ctx, zmq::socket_type::pair};
  s.bind(ep);
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    s.send(zmq::buffer("ping-ping-ping-ping", 19), zmq::send_flags::none);
    zmq::message_t m;
    (void)s.recv(m);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  waitpid(pid, nullptr, 0);
  std::sort(us.begin(), us.end());
  std::printf("zmq PAIR ping-pong over loopback TCP between two processes: p50 %.0f us, p99 %.0f us\n",
              us[n / 2], us[n * 99 / 100]);
}
