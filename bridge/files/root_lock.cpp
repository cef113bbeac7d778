#include "bridge/files/root_lock.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/json_codec.hpp"
#include "core/process.hpp"

namespace troupe {

namespace {

std::string read_all(int fd) {
  std::string text;
  char buf[512];
  for (off_t at = 0;;) {
    auto n = ::pread(fd, buf, sizeof buf, at);
    if (n <= 0)
      break;
    text.append(buf, static_cast<size_t>(n));
    at += n;
    if (text.size() > 4096)
      break; // not ours: a holder's text is one short line
  }
  return text;
}


} // namespace

std::string root_lock::refusal(const std::string& root, const std::string& holder_text) {
  auto j = json::parse(holder_text, nullptr, false);
  std::string who = "another process (its lock file names no holder)";
  if (j.is_object()) {
    who = "caf-node " + j.value("role", std::string{"?"}) + " (pid "
          + std::to_string(j.value("pid", int64_t{0})) + " on host "
          + j.value("host", std::string{"?"}) + ", since " + j.value("since", std::string{"?"})
          + ")";
  }
  return "root " + root + " is in use by " + who
         + ": one node serves a root; stop it, or give this one another --root";
}

root_lock::root_lock(const std::string& root, const std::string& role) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  auto path = root + "/" + root_lock_name;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error_ = "cannot open " + path + ": " + std::strerror(errno);
    return;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK)
      error_ = refusal(root, read_all(fd));
    else
      error_ = "cannot lock " + path + ": " + std::strerror(e);
    ::close(fd);
    return;
  }
  // Ours now: say who holds it. The text is only for the refusal; the
  // lock itself is the flock.
  auto text = json{{"role", role},
                   {"pid", static_cast<int64_t>(::getpid())},
                   {"host", host_name()},
                   {"since", rfc3339_now()}}
                .dump()
              + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) < 0) {
    // The lock holds all the same; only the refusal would be vaguer.
  }
  fd_ = fd;
}

root_lock::~root_lock() {
  if (fd_ >= 0)
    ::close(fd_); // drops the flock; the file stays, naming the last holder
}

} // namespace troupe
