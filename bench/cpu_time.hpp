#pragma once

// CPU seconds (user + system) of this process's threads (RUSAGE_SELF) or of
// its reaped children (RUSAGE_CHILDREN), for the benchmarks' "CPU per task"
// figures: steadier than rates on a shared machine.

#include <sys/resource.h>

namespace troupe::bench {

inline double cpu_seconds(int who) {
  rusage ru{};
  getrusage(who, &ru);
  auto s = [](timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

} // namespace troupe::bench
