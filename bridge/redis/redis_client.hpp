#pragma once

// One blocking connection to Redis (hiredis), with replies copied into a
// plain tree so that no caller holds hiredis types. Not thread-safe: one
// per thread.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bridge/redis/redis_url.hpp"

struct redisContext;

namespace troupe {

struct redis_reply {
  enum class type { nil, string, integer, array, status, error };
  type t = type::nil;
  std::string str; // string, status, error
  long long integer = 0;
  std::vector<redis_reply> elements;

  bool is_nil() const { return t == type::nil; }
  bool is_error() const { return t == type::error; }
};

class redis_client {
public:
  /// Connects, authenticates and selects the database. On failure
  /// connected() is false and error() says why (never the password).
  redis_client(const redis_url& u, std::chrono::milliseconds timeout);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  bool connected() const { return ctx_ != nullptr && error_.empty(); }
  const std::string& error() const { return error_; }

  /// Runs one command. A broken connection (timeout, reset) is a reply of
  /// type error whose text begins "connection:"; connected() is then false.
  redis_reply command(const std::vector<std::string>& argv);

  /// Runs a Lua script by its SHA1, loading it first when Redis does not
  /// know it (first use, or after a restart without persistence of scripts).
  redis_reply eval(const std::string& script, const std::vector<std::string>& keys,
                   const std::vector<std::string>& args);

  /// After SUBSCRIBE: blocks for the next published message; false when
  /// the connection ends (or interrupt() was called).
  bool next_message(std::string& channel, std::string& payload);
  /// Ends a blocking next_message() from another thread (shuts the socket).
  void interrupt();

private:
  redisContext* ctx_ = nullptr;
  std::string error_;
  std::vector<std::pair<std::string, std::string>> shas_; // script -> sha
};

} // namespace troupe
