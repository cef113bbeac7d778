#include "node/queue_link.hpp"

#include <cstdlib>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/process.hpp"

namespace troupe::node {

void add_queue_options(CLI::App* cmd, queue_options& opts, const char* what) {
  cmd->add_option("--queue", opts.url,
                  std::string{what}
                    + " (redis://HOST[:PORT][/DB]; the password from --queue-password-file or "
                      "REDISCLI_AUTH, never the URL)")
    ->type_name("URL");
  cmd->add_option("--queue-password-file", opts.password_file,
                  "a file whose first line is the Redis password")
    ->type_name("FILE");
  cmd->add_option("--queue-prefix", opts.prefix,
                  "the prefix of the queue's keys: one prefix, one queue")
    ->capture_default_str();
}

namespace {

constexpr auto redis_timeout = std::chrono::milliseconds(2000);

} // namespace

queue_link::queue_link(const redis_url& u, redis_queue_settings s)
  : url(u),
    client(std::make_unique<redis_client>(u, redis_timeout)),
    q(std::make_unique<redis_queue>(*client, std::move(s))) {
}

bool queue_link::reconnect_if_broken() {
  if (client->connected())
    return true;
  auto now = std::chrono::steady_clock::now();
  if (now < next_try_)
    return false;
  next_try_ = now + std::chrono::seconds(1);
  auto settings = q->settings();
  q.reset();
  client = std::make_unique<redis_client>(url, redis_timeout);
  q = std::make_unique<redis_queue>(*client, std::move(settings));
  return client->connected();
}

std::string this_consumer_name() {
  // A restarted process is a new consumer: what the old one held is taken
  // over when its lease runs out.
  return host_name() + ":" + std::to_string(::getpid()) + ":" + compact_utc_now();
}

std::shared_ptr<queue_link> open_queue_link(const queue_options& opts,
                                            const std::vector<std::string>& workers,
                                            const std::string& consumer, int64_t lease_ms,
                                            std::string& error) {
  auto u = parse_redis_url(opts.url, error);
  if (!u)
    return nullptr;
  error = load_redis_password(*u, opts.password_file, std::getenv(redis_password_env));
  if (!error.empty())
    return nullptr;
  redis_queue_settings qs;
  qs.prefix = opts.prefix;
  qs.consumer = consumer;
  qs.lease_ms = lease_ms;
  auto link = std::make_shared<queue_link>(*u, qs);
  if (!link->client->connected()) {
    error = "--queue: " + link->client->error();
    return nullptr;
  }
  if (auto err = link->q->prepare(workers); !err.empty()) {
    error = "--queue: " + err;
    return nullptr;
  }
  return link;
}

} // namespace troupe::node
