#include "bridge/httpd/listen.hpp"

#include <algorithm>

#include <sys/socket.h>

namespace troupe {

int listen_in_background(httplib::Server& svr, const std::string& host, int port,
                         size_t threads, std::thread& loop, std::string& error) {
  threads = std::max<size_t>(1, threads);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Each streamed piece is its own small write: with Nagle's algorithm on,
  // the delayed ACK of the client would hold each for 40 ms.
  svr.set_tcp_nodelay(true);
  // cpp-httplib's default is SO_REUSEPORT: a second server on a taken port
  // would share it silently. SO_REUSEADDR only: a restart still binds past
  // TIME_WAIT.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  int bound = 0;
  if (port == 0)
    bound = svr.bind_to_any_port(host);
  else if (svr.bind_to_port(host, port))
    bound = port;
  if (bound <= 0) {
    error = "cannot listen on " + host + ":" + std::to_string(port);
    return 0;
  }
  loop = std::thread([&svr] { svr.listen_after_bind(); });
  // stop() before the loop runs would be lost (cpp-httplib 0.11 has no
  // wait_until_ready): it is running when this returns.
  while (!svr.is_running())
    std::this_thread::yield();
  return bound;
}

} // namespace troupe
