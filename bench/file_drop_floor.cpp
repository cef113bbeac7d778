// The floor under the file-drop benchmarks: the least a file drop can do per
// task on this machine, with no actors, no claim, no event log and no
// validation beyond parsing the JSON. bench/file_drop.sh drives it with the
// same driver as troupe and the Python baseline, so the three are measured
// alike (the driver's own inotify wait included).
//
//   file_drop_floor <root> <worker,worker,...> [threads per worker]
//
// One thread reads inotify events for tasks/<worker>/ (IN_CLOSE_WRITE,
// IN_MOVED_TO; dotfiles ignored) and queues them; each worker's threads
// take its queue, read the task, spawn /bin/true with its three standard
// streams on pipes with troupe's spawner (as the command executor does),
// read stdout to EOF, reap it, write results/<worker>/<task_id>.json (tmp, fsync, rename) and
// remove the task file. SIGTERM ends it.

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "spawn_true.hpp"

namespace {

struct queue {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::string> names;
};

void write_result(const std::string& dir, const std::string& id,
                  const std::string& worker) {
  auto body = nlohmann::json{{"task_id", id}, {"worker", worker}, {"status", "complete"}}
                .dump(2);
  auto tmp = dir + "/." + id + ".json.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())
      || ::fsync(fd) != 0) {
    std::perror(tmp.c_str());
    std::exit(1);
  }
  ::close(fd);
  std::rename(tmp.c_str(), (dir + "/" + id + ".json").c_str());
}

void work(const std::string& root, const std::string& worker, queue& q) {
  for (;;) {
    std::string name;
    {
      std::unique_lock<std::mutex> lock{q.m};
      q.cv.wait(lock, [&] { return !q.names.empty(); });
      name = std::move(q.names.front());
      q.names.pop_front();
    }
    auto path = root + "/tasks/" + worker + "/" + name;
    std::ifstream in{path};
    std::stringstream text;
    text << in.rdbuf();
    auto j = nlohmann::json::parse(text.str(), nullptr, false);
    if (j.is_discarded() || !j.contains("task_id"))
      continue;
    troupe::bench::spawn_true(troupe::bench::spawner::troupe);
    write_result(root + "/results/" + worker, j["task_id"].get<std::string>(), worker);
    ::unlink(path.c_str());
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: file_drop_floor <root> <worker,...> [threads per worker]\n");
    return 2;
  }
  std::string root = argv[1];
  int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  std::vector<std::string> workers;
  std::stringstream list{argv[2]};
  for (std::string w; std::getline(list, w, ',');)
    workers.push_back(w);
  int fd = ::inotify_init1(IN_CLOEXEC);
  std::map<int, std::string> watch;
  std::map<std::string, queue> queues;
  for (auto& w : workers) {
    for (auto d : {"/tasks/", "/results/"})
      ::mkdir((root + d).c_str(), 0755), ::mkdir((root + d + w).c_str(), 0755);
    int wd = ::inotify_add_watch(fd, (root + "/tasks/" + w).c_str(),
                                 IN_CLOSE_WRITE | IN_MOVED_TO);
    if (wd < 0) {
      std::perror("inotify_add_watch");
      return 1;
    }
    watch[wd] = w;
    queues[w];
  }
  std::vector<std::thread> pool;
  for (auto& w : workers)
    for (int i = 0; i < threads; ++i)
      pool.emplace_back([&, w] { work(root, w, queues.at(w)); });
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      return 1;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      std::string name = ev->len ? ev->name : "";
      if (name.empty() || name[0] == '.' || name.size() < 6
          || name.compare(name.size() - 5, 5, ".json") != 0)
        continue;
      auto& q = queues.at(watch.at(ev->wd));
      {
        std::lock_guard<std::mutex> lock{q.m};
        q.names.push_back(name);
      }
      q.cv.notify_one();
    }
  }
}
