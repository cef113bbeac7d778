#pragma once

// A gateway recording: one file per exchange, <dir>/<key>.json, keyed by
// replay_key (core/replay_key.hpp). `--record DIR` writes each answered
// request; `--replay DIR` answers from it, offline and at no cost. Keys
// and other credentials never reach a file: of the request's headers only
// the API's version and betas are kept, the others by name alone.

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace troupe {

/// The answer as the CLI got it: its status, content type and bytes.
struct recorded_answer {
  int status = 0;
  std::string content_type;
  std::string body;
};

/// What is kept of the request: enough to see what it was (its headers
/// as sent; store() keeps them as recorded_headers says).
struct recorded_request {
  std::string method, path, model;
  std::vector<std::pair<std::string, std::string>> headers;
  size_t bytes = 0;
};

/// The headers as a recording keeps them: anthropic-version,
/// anthropic-beta and content-type with their values, any other with
/// "[redacted]".
std::vector<std::pair<std::string, std::string>>
recorded_headers(const std::vector<std::pair<std::string, std::string>>& headers);

class recording {
public:
  explicit recording(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  /// The answer recorded under `key`; nullopt when there is none (or the
  /// file is not one of ours).
  std::optional<recorded_answer> find(const std::string& key) const;
  /// Writes it (atomically); "" or why not.
  std::string store(const std::string& key, const recorded_request& req,
                    const recorded_answer& answer) const;

private:
  std::string dir_;
};

} // namespace troupe
