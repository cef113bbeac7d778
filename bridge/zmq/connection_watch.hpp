#pragma once

// What a connecting client learns from its socket's ZMTP events: whether
// anyone listens, and why a handshake was refused.

#include <string>

#include <zmq.hpp>

namespace troupe::zmqx {

/// Why a connecting socket gets no answer, from its ZMTP events (a socket
/// monitor attached before connect): nothing listens, or the handshake was
/// refused. A client polls socket() with its own and calls drain() when it
/// is readable; a handshake failure is final (retrying with the same keys
/// cannot help), a missing listener may still come up.
class connection_watch {
public:
  /// Call before s.connect(); `curve`: whether s is a CURVE client (what a
  /// failed handshake most likely means depends on it).
  connection_watch(zmq::context_t& ctx, zmq::socket_t& s, bool curve);
  /// Stops the monitor: call while the watched socket is still open (libzmq
  /// 4.3 never frees a socket closed with its monitor on).
  ~connection_watch();
  connection_watch(const connection_watch&) = delete;
  connection_watch& operator=(const connection_watch&) = delete;
  zmq::socket_t& socket() { return pair_; }
  /// Reads the events that arrived.
  void drain();
  bool ready() const { return ready_; } // connected and, with CURVE, accepted
  bool was_ready() const { return was_ready_; } // at any time so far
  bool refused() const { return refused_; }
  /// The refusal's reason is known (a refused key, CURVE on one side only);
  /// a bare "handshake failed" may still be followed by its reason.
  bool reason_known() const { return reason_known_; }
  /// What stands in the way, for the user; empty if nothing (yet).
  const std::string& problem() const { return problem_; }

private:
  void* watched_;
  zmq::socket_t pair_;
  bool curve_;
  bool ready_ = false;
  bool was_ready_ = false;
  bool refused_ = false;
  bool reason_known_ = false;
  std::string problem_;
};

} // namespace troupe::zmqx
