#include "bridge/zmq/connection_watch.hpp"

#include <atomic>
#include <cstring>

#include "bridge/zmq/frames.hpp"

namespace troupe::zmqx {

connection_watch::connection_watch(zmq::context_t& ctx, zmq::socket_t& s,
                                   bool curve)
  : watched_(s.handle()), pair_(ctx, zmq::socket_type::pair), curve_(curve) {
  static std::atomic<unsigned> next{0};
  auto addr = "inproc://troupe-connection-watch-" + std::to_string(next++);
  if (zmq_socket_monitor(s.handle(), addr.c_str(), ZMQ_EVENT_ALL) != 0)
    throw zmq::error_t{};
  pair_.set(zmq::sockopt::linger, 0);
  pair_.connect(addr);
}

connection_watch::~connection_watch() {
  zmq_socket_monitor(watched_, nullptr, 0);
}

void connection_watch::drain() {
  // Without keys of our own, a failed handshake means the server wants them
  // (its refusal often arrives without the mechanism-mismatch detail).
  static const std::string no_keys =
    "the handshake failed (the orchestrator uses CURVE keys: give "
    "--curve-secret and --server-key)";
  for (;;) {
    // Two frames: 6 bytes (event, value), then the endpoint.
    auto frames = recv_frames(pair_);
    if (frames.size() < 2 || frames[0].size() < 6)
      return;
    uint16_t event;
    uint32_t value;
    std::memcpy(&event, frames[0].data(), sizeof(event));
    std::memcpy(&value, frames[0].data() + 2, sizeof(value));
    switch (event) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        ready_ = was_ready_ = true;
        problem_.clear();
        break;
      case ZMQ_EVENT_CONNECT_RETRIED:
        if (!ready_ && problem_.empty())
          problem_ = "nothing accepts connections there (is the orchestrator "
                     "running, and is this its address?)";
        break;
      case ZMQ_EVENT_DISCONNECTED:
        ready_ = false;
        if (problem_.empty())
          problem_ = "the connection was closed";
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        refused_ = reason_known_ = true;
        problem_ = "our key was refused (the orchestrator's allow-list does not "
                   "hold our public key)";
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        refused_ = reason_known_ = true;
        problem_ = value != ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                     ? "the handshake failed (protocol error " + std::to_string(value) + ")"
                   : curve_ ? "the handshake failed (we use CURVE keys, the orchestrator does not)"
                            : no_keys;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        // Comes with the specific failures too: it must not hide them.
        if (!reason_known_)
          problem_ = curve_ ? "the handshake failed (is --server-key the "
                              "orchestrator's public key, and does it run "
                              "with --curve-secret?)"
                            : no_keys;
        refused_ = true;
        break;
      default:
        break;
    }
  }
}

} // namespace troupe::zmqx
