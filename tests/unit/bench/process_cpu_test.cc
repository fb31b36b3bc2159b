// bench::ProcessCpuMicros / CpuMicrosWithChildren (bench/proxy/process_cpu.h): proxy_bench's CPU
// figures for the proxies and fakekube, to the microsecond, nginx's workers included.
#include "bench/proxy/process_cpu.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

namespace {

double OwnCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// In a child: burn CPU until this process has used `micros`, report the exact figure on `fd`,
// then wait (no more CPU) to be killed.
[[noreturn]] void BurnReportAndWait(double micros, int fd) {
  volatile uint64_t sink = 0;
  while (OwnCpuMicros() < micros) {
    for (int i = 0; i < 10000; ++i) sink = sink + static_cast<uint64_t>(i);
  }
  const double used = OwnCpuMicros();
  if (write(fd, &used, sizeof used) != sizeof used) _exit(1);
  while (true) pause();
}

struct Child {
  pid_t pid = -1;
  double used = 0;  // the CPU the child itself read just before it stopped burning
};

// Forks a child that burns `micros` of CPU (its own children, if `grandchild`, as much again).
Child Spawn(double micros, bool grandchild) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (grandchild && fork() == 0) BurnReportAndWait(micros, fds[1]);
    BurnReportAndWait(micros, fds[1]);
  }
  close(fds[1]);
  Child c{pid, 0};
  for (int i = 0; i < (grandchild ? 2 : 1); ++i) {
    double used = 0;
    EXPECT_EQ(read(fds[0], &used, sizeof used), static_cast<ssize_t>(sizeof used));
    c.used += used;
  }
  close(fds[0]);
  return c;
}

// Kills the child's own children (found while it is alive), then the child, and reaps it.
void Stop(const Child& c) {
  const std::vector<pid_t> pids = bench::WithChildren(c.pid);
  for (size_t i = 1; i < pids.size(); ++i) kill(pids[i], SIGKILL);  // not ours to reap
  kill(c.pid, SIGKILL);
  waitpid(c.pid, nullptr, 0);
}

TEST(ProcessCpu, MeasuresAnotherProcessToTheMicrosecond) {
  // 25 ms: clock ticks (10 ms) would read 20 or 30 ms, 5 ms off.
  Child c = Spawn(25000, false);
  const double measured = bench::ProcessCpuMicros(c.pid);
  EXPECT_GE(measured, c.used);
  EXPECT_LT(measured, c.used + 1000) << "more than 1 ms above what the process itself read";
  Stop(c);
}

TEST(ProcessCpu, CountsDirectChildrenToo) {
  Child c = Spawn(15000, true);  // the child and its own child burn 15 ms each
  EXPECT_EQ(bench::WithChildren(c.pid).size(), 2u);
  const double measured = bench::CpuMicrosWithChildren(c.pid);
  EXPECT_GE(measured, c.used);
  EXPECT_LT(measured, c.used + 2000);
  EXPECT_LT(bench::ProcessCpuMicros(c.pid), c.used - 10000) << "the child's own clock alone";
  Stop(c);
}

TEST(ProcessCpu, NoProcessIsZero) {
  EXPECT_EQ(bench::ProcessCpuMicros(0), 0);
  EXPECT_EQ(bench::CpuMicrosWithChildren(-1), 0);
}

}  // namespace
