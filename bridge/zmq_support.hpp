#pragma once

// ZeroMQ plumbing shared by the orchestrator's broker and the worker and
// producer clients: CURVE key files, the ZAP allow-list handler (RFC 27),
// multipart send/receive, and a queue other threads post to that wakes a
// zmq_poll loop.

#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
  zmq::socket_t pair_;
  bool curve_;
  bool ready_ = false;
  bool was_ready_ = false;
  bool refused_ = false;
  bool reason_known_ = false;
  std::string problem_;
};

/// Receives all frames of one message (non-blocking: empty if none).
std::vector<std::string> recv_frames(zmq::socket_t& s);
/// Sends frames as one message.
void send_frames(zmq::socket_t& s, const std::vector<std::string>& frames);
/// The same without waiting: false (nothing sent) when the socket has no
/// peer to take it now, e.g. a client whose handshake is being refused.
bool try_send_frames(zmq::socket_t& s, const std::vector<std::string>& frames);

/// A queue that other threads post to; its fd wakes a zmq_poll loop.
template <class T>
class inbox {
public:
  inbox();
  ~inbox();
  void post(T x);
  std::vector<T> take(); // everything queued; clears the wake-up
  int fd() const { return fd_; }

private:
  std::mutex mtx_;
  std::deque<T> items_;
  int fd_;
};

int make_eventfd();
void signal_eventfd(int fd);
void clear_eventfd(int fd);
void close_fd(int fd);

template <class T>
inbox<T>::inbox() : fd_(make_eventfd()) {
}

template <class T>
inbox<T>::~inbox() {
  close_fd(fd_);
}

template <class T>
void inbox<T>::post(T x) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    was_empty = items_.empty();
    items_.push_back(std::move(x));
  }
  // One wake-up per batch: take() clears the fd before it empties the
  // queue, so whatever joins a non-empty queue is taken with it.
  if (was_empty)
    signal_eventfd(fd_);
}

template <class T>
std::vector<T> inbox<T>::take() {
  clear_eventfd(fd_);
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<T> out{std::make_move_iterator(items_.begin()),
                     std::make_move_iterator(items_.end())};
  items_.clear();
  return out;
}

} // namespace troupe::zmqx
