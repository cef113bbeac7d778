#include "bridge/zmq/frames.hpp"

#include <cerrno>

#include <sys/eventfd.h>
#include <unistd.h>

namespace troupe::zmqx {

std::vector<std::string> recv_frames(zmq::socket_t& s) {
  std::vector<std::string> frames;
  zmq::message_t m;
  if (!s.recv(m, zmq::recv_flags::dontwait))
    return frames;
  frames.push_back(m.to_string());
  while (m.more()) {
    // The rest of a multipart message arrives with its first frame.
    [[maybe_unused]] auto more = s.recv(m);
    frames.push_back(m.to_string());
  }
  return frames;
}

void send_frames(zmq::socket_t& s, const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i)
    s.send(zmq::buffer(frames[i]), i + 1 < frames.size()
                                     ? zmq::send_flags::sndmore
                                     : zmq::send_flags::none);
}

bool try_send_frames(zmq::socket_t& s, const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    auto more = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    // Only the first frame can find the socket full: the rest follow it.
    if (!s.send(zmq::buffer(frames[i]), more | zmq::send_flags::dontwait) && i == 0)
      return false;
  }
  return true;
}

int make_eventfd() {
  return ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void signal_eventfd(int fd) {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd, &one, sizeof(one));
}

void clear_eventfd(int fd) {
  uint64_t v;
  [[maybe_unused]] auto n = ::read(fd, &v, sizeof(v));
}

void close_fd(int fd) {
  if (fd >= 0)
    ::close(fd);
}

} // namespace troupe::zmqx
