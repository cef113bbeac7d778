#include "bridge/redis/redis_url.hpp"

#include <charconv>
#include <fstream>

namespace troupe {

namespace {

bool parse_int(const std::string& s, int lo, int hi, int& out) {
  if (s.empty())
    return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size() && out >= lo && out <= hi;
}

} // namespace

std::optional<redis_url> parse_redis_url(const std::string& text, std::string& error) {
  static const std::string scheme = "redis://";
  if (text.rfind("rediss://", 0) == 0) {
    // Debian 12's hiredis (0.14) has no TLS: say so rather than talk in clear.
    error = "rediss:// needs TLS, which this build's hiredis (Debian 12: 0.14) lacks; "
            "reach Redis over a TLS tunnel (stunnel, spiped) on loopback and use redis://";
    return std::nullopt;
  }
  if (text.rfind(scheme, 0) != 0) {
    error = "queue \"" + text + "\": expected redis://HOST[:PORT][/DB]";
    return std::nullopt;
  }
  redis_url u;
  auto rest = text.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    auto cred = authority.substr(0, at);
    if (cred.find(':') != std::string::npos) {
      error = "queue URL holds a password; the command line is visible to every user: "
              "put it in " + std::string{redis_password_env} + " or a --queue-password-file";
      return std::nullopt;
    }
    u.user = cred;
    authority = authority.substr(at + 1);
  }
  auto colon = authority.rfind(':');
  if (authority.size() > 1 && authority.front() == '[') { // [::1]:6379
    auto close = authority.find(']');
    if (close == std::string::npos) {
      error = "queue URL: unclosed [ in host";
      return std::nullopt;
    }
    u.host = authority.substr(1, close - 1);
    colon = authority.size() > close + 1 && authority[close + 1] == ':' ? close + 1
                                                                         : std::string::npos;
  } else if (colon != std::string::npos) {
    u.host = authority.substr(0, colon);
  } else if (!authority.empty()) {
    u.host = authority;
  }
  if (colon != std::string::npos && !parse_int(authority.substr(colon + 1), 1, 65535, u.port)) {
    error = "queue URL: port \"" + authority.substr(colon + 1) + "\" is not 1-65535";
    return std::nullopt;
  }
  if (u.host.empty()) {
    error = "queue URL: no host";
    return std::nullopt;
  }
  if (slash != std::string::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, 1 << 20, u.db)) {
      error = "queue URL: database \"" + db + "\" is not a number";
      return std::nullopt;
    }
  }
  return u;
}

std::string load_redis_password(redis_url& u, const std::string& password_file,
                                const char* env_value) {
  if (!password_file.empty()) {
    std::ifstream in{password_file};
    if (!in)
      return "cannot read the queue password file " + password_file;
    std::getline(in, u.password);
    if (!u.password.empty() && u.password.back() == '\r')
      u.password.pop_back();
    if (u.password.empty())
      return "the queue password file " + password_file + " is empty";
    return {};
  }
  if (env_value)
    u.password = env_value;
  return {};
}

} // namespace troupe
