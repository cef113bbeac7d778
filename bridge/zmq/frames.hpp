#pragma once

// Frame I/O: one multipart message in or out of a socket, and the inbox
// other threads post to that wakes a zmq_poll loop (an eventfd).

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace troupe::zmqx {

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
