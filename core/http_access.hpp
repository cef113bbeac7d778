#pragma once

// Who may use a node's HTTP endpoint (--http ADDR:PORT): decisions free of
// sockets, so a test reaches each. On loopback anyone on the machine may;
// bound beyond it, a bearer token from a file is required.

#include <optional>
#include <string>
#include <string_view>

namespace troupe {

struct listen_address {
  std::string host; // as given, without [] around an IPv6 address
  int port = 0;     // 0: any free port
};

/// "127.0.0.1:8080", "[::1]:0", "0.0.0.0:9000"; nullopt with `error`.
std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error);

/// 127.0.0.0/8, ::1 or localhost: only this machine can connect.
bool is_loopback_host(std::string_view host);

/// The Authorization header carries `Bearer <token>` (compared in constant
/// time). An empty token allows any request.
bool bearer_allows(std::string_view authorization, std::string_view token);

/// The token in a file: its first line, trimmed; "" with `error` when the
/// file cannot be read or holds none.
std::string read_token_file(const std::string& path, std::string& error);

} // namespace troupe
