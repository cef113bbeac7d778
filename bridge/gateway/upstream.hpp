#pragma once

// One request to the upstream Messages API, with libcurl: HTTPS with the
// certificates verified, the proxy variables (https_proxy, no_proxy)
// honoured as curl does. Driven from the calling thread, step by step, so
// that the gateway hands each piece of the body on as it arrives.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace troupe {

struct upstream_request {
  std::string method = "POST"; // or GET, with no body
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string ca_file; // empty: the system's certificates
  std::chrono::seconds connect_timeout{30};
  /// No byte for this long: the transfer fails (the API sends pings).
  std::chrono::seconds idle_timeout{600};
  /// Set when the gateway stops: the transfer ends within a second.
  const std::atomic<bool>* cancel = nullptr;
  /// Set when its task is cancelled: the same, for this transfer alone.
  const std::atomic<bool>* abort = nullptr;
};

class upstream_call {
public:
  explicit upstream_call(const upstream_request& req);
  ~upstream_call();
  upstream_call(const upstream_call&) = delete;
  upstream_call& operator=(const upstream_call&) = delete;

  /// Runs the transfer until the response's status and headers are in
  /// (true), or it failed before (false: error()).
  bool await_headers();
  int status() const;
  const std::vector<std::pair<std::string, std::string>>& headers() const;

  /// Appends the body bytes that arrived, waiting for some; false once the
  /// body is complete or the transfer failed (error() tells which).
  bool next(std::string& out);
  /// Why the transfer failed; empty if it did not.
  const std::string& error() const;

private:
  struct impl;
  std::unique_ptr<impl> p_;
};

} // namespace troupe
