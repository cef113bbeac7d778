#pragma once

// The Redis queue as the commands reach it: --queue, --queue-password-file,
// --queue-prefix (serve, orchestrator, status), and one checked connection.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bridge/redis/redis_queue.hpp"

namespace CLI {
class App;
}

namespace troupe::node {

struct queue_options {
  /// redis://HOST[:PORT][/DB]; empty: the folders alone.
  std::string url;
  std::string password_file;
  std::string prefix = "troupe:";
};

/// `what`: how the command uses it, for --queue's help.
void add_queue_options(CLI::App* cmd, queue_options& opts, const char* what);

/// A connection and the queue over it.
struct queue_link {
  redis_url url;
  std::unique_ptr<redis_client> client;
  std::unique_ptr<redis_queue> q;
  queue_link(const redis_url& u, redis_queue_settings s);

  /// When the connection broke (Redis restarted, or cannot be reached):
  /// connects again, at most once a second, so that a caller trying many
  /// files in a row is not held for each. True when connected.
  bool reconnect_if_broken();

private:
  std::chrono::steady_clock::time_point next_try_{};
};

/// Parses the URL, reads the password, connects and (for `workers`)
/// creates the streams; null and `error` (prefixed "--queue: ") on failure.
/// `consumer` and `lease_ms`: this process's name in the groups and its
/// lease.
std::shared_ptr<queue_link> open_queue_link(const queue_options& opts,
                                            const std::vector<std::string>& workers,
                                            const std::string& consumer, int64_t lease_ms,
                                            std::string& error);

/// A consumer name unique to this process: host:pid:start.
std::string this_consumer_name();

} // namespace troupe::node
