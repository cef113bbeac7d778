#pragma once

// CURVE for the bridge's sockets: key files, the allow-list of client keys,
// and the ZAP handler (RFC 27) that admits only those keys.

#include <optional>
#include <set>
#include <string>
#include <thread>

#include <zmq.hpp>

namespace troupe::zmqx {

/// Writes <prefix>.pub (public key, Z85) and <prefix>.secret (mode 0600).
/// Returns "" or the reason it could not.
std::string keygen(const std::string& prefix);

/// Reads a Z85 key file (40 characters). A secret key file must not be
/// readable by group or others. nullopt with the reason in `error`.
std::optional<std::string> read_key(const std::string& path, bool secret,
                                    std::string& error);

/// The public keys of every *.pub file in `dir` (Z85).
std::optional<std::set<std::string>> read_allow_list(const std::string& dir,
                                                     std::string& error);

/// The public key that goes with a secret one (both Z85).
std::string public_of(const std::string& secret_z85);

struct curve_server {
  std::string secret; // Z85
  std::set<std::string> allowed;
};

struct curve_client {
  std::string secret, public_key, server_key; // Z85
};

/// Makes `s` a CURVE server (ZAP decides who may connect).
void make_server(zmq::socket_t& s, const curve_server& c);
/// Makes `s` a CURVE client of the server with `server_key`.
void make_client(zmq::socket_t& s, const curve_client& c);

/// Answers ZAP requests on inproc://zeromq.zap.01 of `ctx`: CURVE clients
/// whose key is in the allow-list get 200, everyone else 400. Runs until
/// the context is shut down.
class zap_handler {
public:
  zap_handler(zmq::context_t& ctx, std::set<std::string> allowed);
  ~zap_handler();

private:
  void loop();
  zmq::socket_t sock_;
  std::set<std::string> allowed_;
  std::thread thread_;
};

} // namespace troupe::zmqx
