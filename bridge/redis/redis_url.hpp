#pragma once

// Where a Redis queue lives, in redis-cli's terms: redis://HOST[:PORT][/DB].
// The password never rides on the command line (ps shows it): it comes from
// REDISCLI_AUTH, as for redis-cli, or from a file (--queue-password-file).
// Pure, so that tests reach every refusal.

#include <optional>
#include <string>

namespace troupe {

/// The environment variable redis-cli reads its password from.
inline constexpr const char* redis_password_env = "REDISCLI_AUTH";
inline constexpr int redis_default_port = 6379;

struct redis_url {
  std::string host = "127.0.0.1";
  int port = redis_default_port;
  int db = 0;
  std::string user;     // ACL user (redis://user@host), "" for default
  std::string password; // filled from the environment or a file, never the URL
};

/// Parses `text`; on failure nullopt and `error` says why (a password in
/// the URL, rediss:// without TLS support, a bad port or db).
std::optional<redis_url> parse_redis_url(const std::string& text, std::string& error);

/// Fills `u.password`: from `password_file` if given (its first line), else
/// from `env_value` (REDISCLI_AUTH's value, or null). Returns "" or why not.
std::string load_redis_password(redis_url& u, const std::string& password_file,
                                const char* env_value);

} // namespace troupe
