#pragma once

// How troupe's HTTP servers (the gateway, the web endpoint) listen, with
// cpp-httplib: a thread pool of a given size, Nagle off, SO_REUSEADDR but
// not cpp-httplib's SO_REUSEPORT, and a loop that runs when this returns.

#include <string>
#include <thread>

#include <httplib.h>

namespace troupe {

/// Binds `svr` (port 0: any free one) and starts its loop on `loop`; the
/// port bound, or 0 with `error`.
int listen_in_background(httplib::Server& svr, const std::string& host, int port,
                         size_t threads, std::thread& loop, std::string& error);

} // namespace troupe
