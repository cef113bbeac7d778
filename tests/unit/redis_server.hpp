#pragma once

// A real redis-server for a test: its own temp folder, a free loopback
// port, started on construction and awaited (its "Ready to accept
// connections" line), killed on destruction. Options follow as redis.conf
// lines given on the command line (--appendonly yes ...), after a config
// file if the first option is one.

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <netinet/in.h>

#include "bridge/redis/redis_url.hpp"
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace troupe::testing {

/// A port that was free a moment ago (the kernel's pick for port 0).
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class redis_server {
public:
  explicit redis_server(std::vector<std::string> options = {}, std::string dir = {})
    : options_(std::move(options)) {
    if (dir.empty()) {
      char tmpl[] = "/tmp/troupe-redis.XXXXXX";
      dir = ::mkdtemp(tmpl);
      owns_dir_ = true;
    }
    dir_ = dir;
    start();
  }
  ~redis_server() {
    kill(SIGKILL);
    if (owns_dir_) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  /// Sends `sig` and reaps the server.
  void kill(int sig) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  /// Starts it again on the same port and folder (its AOF, if any).
  void restart() {
    kill(SIGKILL);
    start(port_);
  }

private:
  void start(int port = 0) {
    for (int tries = 0; tries < 5; ++tries) {
      port_ = port ? port : free_loopback_port();
      if (launch())
        return;
      if (port)
        break;
    }
    throw std::runtime_error("redis-server did not start (is it installed?)");
  }

  bool launch() {
    std::vector<std::string> args{"redis-server", "--port", std::to_string(port_),
                                  "--bind", "127.0.0.1", "--dir", dir_, "--save", "",
                                  "--daemonize", "no", "--loglevel", "notice"};
    // A config file comes first (redis-server FILE --opt ...); the options
    // given here override it.
    auto opt = options_.begin();
    if (opt != options_.end() && opt->rfind("--", 0) != 0)
      args.insert(args.begin() + 1, *opt++);
    args.insert(args.end(), opt, options_.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe(out) != 0)
      return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    int rc = ::posix_spawnp(&pid_, "redis-server", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      pid_ = -1;
      return false;
    }
    // Await its own word that it serves; EOF means it exited (port taken).
    FILE* f = ::fdopen(out[0], "r");
    char line[1024];
    bool ready = false;
    while (!ready && std::fgets(line, sizeof line, f))
      ready = std::string{line}.find("Ready to accept connections") != std::string::npos;
    if (ready) {
      // Keep draining its log so that it never blocks on a full pipe.
      drain_ = std::thread([f] {
        char sink[1024];
        while (std::fgets(sink, sizeof sink, f)) {
        }
        std::fclose(f);
      });
      drain_.detach();
      return true;
    }
    std::fclose(f);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return false;
  }

  std::vector<std::string> options_;
  std::string dir_;
  bool owns_dir_ = false;
  int port_ = 0;
  pid_t pid_ = -1;
  std::thread drain_;
};

/// The server's URL, parsed (a test fails if it does not parse).
inline troupe::redis_url url_of(const redis_server& s) {
  std::string err;
  auto u = troupe::parse_redis_url(s.url(), err);
  EXPECT_TRUE(u) << err;
  return u ? *u : troupe::redis_url{};
}

} // namespace troupe::testing
