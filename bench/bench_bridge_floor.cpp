// The floor under the bridge benchmarks: troupe's wire protocol with nothing
// else. One thread in this process plays the broker (a ROUTER), each worker
// node is a forked process with one DEALER that answers every TASK or TASKS
// with the simulator's results, in one RESULT or RESULTS. The same frames
// and batches, the same JSON writer (core/json_text) and decoder for tasks
// and results, the same 256 tasks in flight per node as bench_bridge; no
// actors, no dispatcher, no extra threads.
//
//   bench_bridge_floor [tasks] [nodes]
//
// 1. throughput: `tasks` tasks spread over the nodes: tasks/s;
// 2. round trip: 2,000 single tasks one after another to one node: p50/p99.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <zmq.hpp>

#include "bridge/zmq/wire.hpp"
#include "bridge/zmq/frames.hpp"
#include "core/json_text.hpp"
#include "core/sim_executor.hpp"

using namespace troupe;
using clk = std::chrono::steady_clock;

namespace {

constexpr int window = 256; // tasks in flight per node, as bench_bridge's slots

/// One whole message, waiting for it (zmqx::recv_frames does not wait).
std::vector<std::string> recv_wait(zmq::socket_t& s) {
  for (;;) {
    auto frames = zmqx::recv_frames(s);
    if (!frames.empty())
      return frames;
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(-1));
  }
}

void node(const std::string& endpoint, const std::string& name) {
  sim_settings ss;
  ss.latency_ms = 0;
  worker_config wc;
  wc.name = name;
  wc.executor = "sim";
  sim_executor sim{ss, wc};
  zmq::context_t ctx{1};
  zmq::socket_t s{ctx, zmq::socket_type::dealer};
  s.set(zmq::sockopt::linger, 0);
  s.connect(endpoint);
  zmqx::send_frames(s, wire::encode({wire::name(wire::command::ready), {{"worker", name}}}));
  for (;;) {
    auto frames = recv_wait(s);
    std::string err;
    auto m = wire::decode(frames, err);
    if (!m || m->cmd == wire::name(wire::command::disconnect))
      return;
    wire::batch out{wire::name(wire::command::result), wire::name(wire::command::results), "results"};
    for (auto* e : wire::entries(*m, wire::name(wire::command::tasks), "tasks")) {
      problems ps;
      auto t = task_from_json(wire::member(*e, "task"), ps);
      if (!t)
        return;
      auto r = sim.run(*t, 1);
      std::string text;
      append_json(text, r);
      auto ticket = wire::id_value(e->value("ticket", json{}));
      if (!ticket)
        return;
      if (out.add_text(wire::ticketed_entry(*ticket, "result", text)))
        zmqx::send_frames(s, out.take());
    }
    if (!out.empty())
      zmqx::send_frames(s, out.take());
  }
}

} // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::stoul(argv[1]) : 100000;
  int nodes = argc > 2 ? std::stoi(argv[2]) : 3;
  // Fork before any ZeroMQ context exists: a context does not survive fork.
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(20000 + ::getpid() % 20000);
  std::vector<pid_t> pids;
  for (int i = 0; i < nodes; ++i) {
    auto pid = ::fork();
    if (pid == 0) {
      node(endpoint, "w" + std::to_string(i));
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  zmq::context_t ctx{1};
  zmq::socket_t router{ctx, zmq::socket_type::router};
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::sndhwm, 0);
  router.bind(endpoint);
  std::vector<std::string> ids; // node identities, in READY order
  while (static_cast<int>(ids.size()) < nodes)
    ids.push_back(recv_wait(router).front());

  uint64_t next_ticket = 1;
  // `count` tasks to one node, in TASKS as the broker batches them.
  auto send_tasks = [&](int node_index, size_t first, size_t count) {
    wire::batch b{wire::name(wire::command::task), wire::name(wire::command::tasks), "tasks"};
    auto send = [&] {
      auto frames = b.take();
      frames.insert(frames.begin(), ids[node_index]);
      zmqx::send_frames(router, frames);
    };
    for (size_t i = first; i < first + count; ++i) {
      task t;
      t.task_id = "t" + std::to_string(i);
      t.worker = "w" + std::to_string(node_index);
      t.description = "Summarise the attached diff and list risky changes.";
      std::string text;
      append_json(text, t);
      if (b.add_text(wire::ticketed_entry(next_ticket++, "task", text)))
        send();
    }
    if (!b.empty())
      send();
  };
  // One RESULT or RESULTS in, decoded: the sender's index and how many.
  auto take_results = [&] {
    auto frames = recv_wait(router);
    std::string err;
    auto m = wire::decode({frames.begin() + 1, frames.end()}, err);
    if (!m) {
      std::fprintf(stderr, "bad message: %s\n", err.c_str());
      std::exit(1);
    }
    auto entries = wire::entries(*m, wire::name(wire::command::results), "results");
    for (auto* e : entries) {
      problems ps;
      if (!result_from_json(wire::member(*e, "result"), ps)
          || !wire::id_value(e->value("ticket", json{}))) {
        std::fprintf(stderr, "bad RESULT\n");
        std::exit(1);
      }
    }
    auto k = static_cast<int>(std::find(ids.begin(), ids.end(), frames.front()) - ids.begin());
    return std::make_pair(k, entries.size());
  };

  size_t sent = 0, done = 0;
  auto t0 = clk::now();
  for (int k = 0; k < nodes; ++k) {
    auto c = std::min<size_t>(window, n - sent);
    send_tasks(k, sent, c);
    sent += c;
  }
  while (done < n) {
    auto [k, c] = take_results();
    done += c;
    auto more = std::min<size_t>(c, n - sent);
    send_tasks(k, sent, more);
    sent += more;
  }
  auto secs = std::chrono::duration<double>(clk::now() - t0).count();
  std::printf("bridge floor (wire protocol only, no actors) throughput, %zu tasks over %d "
              "nodes: %.0f tasks/s\n",
              n, nodes, n / secs);

  std::vector<double> us;
  for (int i = 0; i < 2000; ++i) {
    auto t1 = clk::now();
    send_tasks(0, i, 1);
    take_results();
    us.push_back(std::chrono::duration<double, std::micro>(clk::now() - t1).count());
  }
  std::sort(us.begin(), us.end());
  std::printf("bridge floor round trip (broker -> node -> broker), 2000 sequential: "
              "p50 %.0f us, p99 %.0f us\n",
              us[us.size() / 2], us[us.size() * 99 / 100]);
  for (auto& id : ids)
    zmqx::send_frames(router, {id, wire::protocol_id, wire::name(wire::command::disconnect), "{}"});
  for (auto p : pids)
    ::waitpid(p, nullptr, 0);
  return 0;
}
