#pragma once

// Starts the node's HTTP endpoint (bridge/web) for `serve` and
// `orchestrator` when --http is given: its hooks read the root's folders
// (status, runs/, results/) and leave the same markers as the local
// commands (cancel, approve, reject, unpark). Loaded from its module,
// libtroupe-web.so, so that a node without --http carries no HTTP server.

#include <memory>
#include <optional>
#include <set>
#include <string>

namespace troupe {
class web_api;
struct task_event;
struct result;
}

namespace troupe::node {

struct web_options {
  std::string listen;     // ADDR:PORT; empty: off
  std::string token_file; // required beyond loopback
};

struct web_holder {
  std::unique_ptr<web_api> web;
  web_holder();
  ~web_holder(); // stops it
  web_holder(web_holder&&) noexcept;
  /// One event for the stream (any thread); nothing when off.
  void publish(const task_event& e, const std::string& run_id) const;
  /// A result written (any thread), for /metrics.
  void observe(const result& r) const;
};

/// The URL it serves, "" when --http is not given; nullopt after printing
/// why it cannot start (a bad address, no token beyond loopback, a port in
/// use, no module): the node exits 2.
std::optional<std::string> start_web(const web_options& opts, const std::string& root,
                                     const std::set<std::string>& workers,
                                     double spend_per_day_usd, web_holder& holder);

} // namespace troupe::node
