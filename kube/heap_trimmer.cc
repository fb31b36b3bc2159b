#include "kube/heap_trimmer.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "glog/logging.h"

namespace kube {

HeapStats ReadHeapStats() {
  struct mallinfo2 mi = mallinfo2();
  HeapStats s;
  s.free_bytes = mi.fordblks;
  s.in_use_bytes = mi.uordblks + mi.hblkhd;
  s.resident_bytes = ResidentBytes();
  return s;
}

bool ShouldTrim(const HeapStats& stats, size_t slack_floor, const HeapTrimOptions& options) {
  return stats.free_bytes >= options.min_free_bytes &&
         stats.slack() >= slack_floor + options.min_free_bytes;
}

size_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

HeapTrimmer::HeapTrimmer(HeapTrimOptions options) : options_(options) {
  if (options_.period.count() > 0) thread_ = std::thread([this] { Run(); });
}

HeapTrimmer::~HeapTrimmer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t HeapTrimmer::TrimNow() {
  const size_t before = ResidentBytes();
  malloc_trim(0);
  const size_t after = ResidentBytes();
  const size_t released = before > after ? before - after : 0;
  std::lock_guard lock(mu_);
  ++trims_;
  released_ += released;
  return released;
}

uint64_t HeapTrimmer::trims() const {
  std::lock_guard lock(mu_);
  return trims_;
}

uint64_t HeapTrimmer::released_bytes() const {
  std::lock_guard lock(mu_);
  return released_;
}

HeapStats HeapTrimmer::last_stats() const {
  std::lock_guard lock(mu_);
  return last_;
}

void HeapTrimmer::Run() {
  size_t floor = 0;  // slack right after the last trim: what trimming cannot give back
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, options_.period, [this] { return stop_; })) {
    lock.unlock();
    const HeapStats stats = ReadHeapStats();
    HeapStats after = stats;
    if (ShouldTrim(stats, floor, options_)) {
      const size_t released = TrimNow();
      after = ReadHeapStats();
      floor = after.slack();
      VLOG(2) << "heap trim: " << (stats.free_bytes >> 20) << " MiB free in malloc, "
              << (released >> 20) << " MiB resident given back";
    } else {
      floor = std::min(floor, stats.slack());
    }
    lock.lock();
    last_ = after;
  }
}

}  // namespace kube
