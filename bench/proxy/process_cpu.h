// proxy_bench's CPU meter: the CPU time a process (all its threads, live and exited) and its
// child processes have used, to the microsecond; and the process-with-children list it sums.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <fstream>
#include <string>
#include <vector>

namespace bench {

// The CPU clock of one process (clock_getcpuclockid): nanosecond resolution. /proc/<pid>/stat's
// utime + stime, which proxy_bench read until 2026-12-08, counts in clock ticks (10 ms), too
// coarse for a 1,000-item list or 1,000 creates (bench/README.md, "Session 9").
inline double ProcessCpuMicros(pid_t pid) {
  clockid_t clock;
  if (pid <= 0 || clock_getcpuclockid(pid, &clock) != 0) return 0;
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// `pid` followed by its direct children (nginx: the master and its workers).
inline std::vector<pid_t> WithChildren(pid_t pid) {
  std::vector<pid_t> out{pid};
  std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                         "/children");
  pid_t child = 0;
  while (children >> child) out.push_back(child);
  return out;
}

// The CPU time of `pid` and its direct children.
inline double CpuMicrosWithChildren(pid_t pid) {
  if (pid <= 0) return 0;
  double total = 0;
  for (pid_t p : WithChildren(pid)) total += ProcessCpuMicros(p);
  return total;
}

}  // namespace bench
