#include "core/atomic_file.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace troupe {

namespace {

/// Writes a dotfile next to `path` (watchers of the folder ignore it) and
/// fsyncs it; with `keep_fd`, leaves the syncing to the caller and hands it
/// the open descriptor. Returns the temp path, or "" and sets `err`.
std::string write_temp(const std::string& path, std::string_view data,
                       std::string& err, int* keep_fd = nullptr) {
  static std::atomic<uint64_t> counter{0};
  auto slash = path.rfind('/');
  auto dir = slash == std::string::npos ? std::string{"."}
                                        : path.substr(0, slash);
  auto name = slash == std::string::npos ? path : path.substr(slash + 1);
  auto tmp = dir + "/." + name + ".tmp." + std::to_string(::getpid()) + "."
             + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = "cannot create " + tmp + ": " + std::strerror(errno);
    return {};
  }
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      err = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return {};
    }
    done += static_cast<size_t>(n);
  }
  if (keep_fd) {
    *keep_fd = fd;
    return tmp;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    err = "cannot sync " + tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return {};
  }
  return tmp;
}

std::string commit(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto why = std::string{std::strerror(errno)};
    ::unlink(tmp.c_str());
    return "cannot rename to " + path + ": " + why;
  }
  return {};
}

} // namespace

std::string write_file_atomic(const std::string& path, std::string_view data) {
  std::string err;
  auto tmp = write_temp(path, data, err);
  return tmp.empty() ? err : commit(tmp, path);
}

std::vector<std::string>
write_files_atomic(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<std::string> errs(files.size());
  std::vector<std::string> tmps(files.size());
  std::vector<int> fds(files.size(), -1);
  // Each file is fsynced, not the file system: syncfs() would also wait
  // for every other writer's dirty data on that disk (measured: results
  // held up to a second behind a process writing large files; README).
  // All are written before the first is synced, so their I/O can overlap.
  for (size_t i = 0; i < files.size(); ++i)
    tmps[i] = write_temp(files[i].first, files[i].second, errs[i], &fds[i]);
  for (size_t i = 0; i < files.size(); ++i) {
    if (tmps[i].empty())
      continue;
    bool synced = ::fsync(fds[i]) == 0;
    auto why = std::string{std::strerror(errno)};
    if (::close(fds[i]) != 0 || !synced) {
      errs[i] = "cannot sync " + tmps[i] + ": " + why;
      ::unlink(tmps[i].c_str());
      continue;
    }
    errs[i] = commit(tmps[i], files[i].first);
  }
  return errs;
}

} // namespace troupe
