#pragma once

// The node's HTTP endpoint (--http ADDR:PORT on serve and orchestrator):
// a JSON API over what the node holds, a live event stream (Server-Sent
// Events, resumable with Last-Event-ID) and the actions that exist, as
// POSTs. Knows no actor and no folder: what it serves comes through hooks
// (node/web_role). Built on cpp-httplib, which the gateway uses already.

#include <functional>
#include <memory>
#include <string>

#include "core/http_access.hpp"

namespace troupe {

struct web_settings {
  listen_address at;
  /// Required as `Authorization: Bearer …` when not empty.
  std::string token;
  /// Events kept for readers that reconnect.
  size_t events_kept = 10000;
  int threads = 16; // each open event stream holds one
};

/// One task's result, as /metrics counts it (fields of core's result, so
/// that this header needs none of core's types).
struct task_observation {
  std::string worker, model, status;
  double duration_s = 0;
  int64_t input_tokens = 0, output_tokens = 0, cache_creation_tokens = 0, cache_read_tokens = 0;
  double cost_usd = 0;
};

/// A hook's answer: a JSON body (or a plain text one) and its status.
struct web_reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

struct web_hooks {
  std::function<web_reply()> status;
  std::function<web_reply()> runs;
  std::function<web_reply(const std::string& run_id)> run;
  /// runs/<id>/timeline.svg, once the run's report is written.
  std::function<web_reply(const std::string& run_id)> timeline;
  std::function<web_reply(const std::string& worker, const std::string& task_id)> task;
  /// POST /api/tasks/<worker>/<id>/<action> (cancel, approve, reject),
  /// /api/runs/<id>/cancel, /api/workers/<worker>/unpark; `why` from the
  /// body's "why" (reject).
  std::function<web_reply(const std::string& action, const std::string& scope,
                          const std::string& name, const std::string& worker,
                          const std::string& why)>
    act;
};

class web_server {
public:
  web_server(web_settings s, web_hooks h);
  ~web_server();
  web_server(const web_server&) = delete;
  web_server& operator=(const web_server&) = delete;

  bool start(std::string& error);
  /// http://host:port as bound.
  std::string url() const;
  /// One event (its JSON text) for the stream's readers; `kind` and
  /// `worker` are counted (api_retry: a 429 waited out). Until a stream
  /// has been opened the text may be empty: nobody can ask for it.
  void publish(std::string event_json, const std::string& kind, const std::string& worker);
  /// Whether a stream has been opened since the start (then every event
  /// is kept for readers that come back).
  bool watched() const;
  /// A task's result, for /metrics.
  void observe(const task_observation& t);
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace troupe
