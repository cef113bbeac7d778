#include "core/http_access.hpp"

#include <charconv>
#include <fstream>

#include "core/text.hpp"

namespace troupe {

std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    error = "\"" + std::string{text} + "\" is not ADDR:PORT (e.g. 127.0.0.1:8080)";
    return std::nullopt;
  }
  listen_address a;
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  a.host = std::string{host};
  auto port = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || a.port < 0
      || a.port > 65535 || a.host.empty()) {
    error = "\"" + std::string{text} + "\": the port must be 0 to 65535";
    return std::nullopt;
  }
  return a;
}

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

bool bearer_allows(std::string_view authorization, std::string_view token) {
  if (token.empty())
    return true;
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() != scheme.size() + token.size()
      || authorization.substr(0, scheme.size()) != scheme)
    return false;
  // Every byte compared, so the time does not tell how much matched.
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(authorization[scheme.size() + i] ^ token[i]);
  return diff == 0;
}

std::string read_token_file(const std::string& path, std::string& error) {
  std::ifstream in{path};
  std::string line;
  if (!in || !std::getline(in, line)) {
    error = "cannot read a token from " + path;
    return {};
  }
  auto token = trim(line);
  if (token.empty())
    error = path + " holds no token on its first line";
  return token;
}

} // namespace troupe
