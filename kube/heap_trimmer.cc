#include "kube/heap_trimmer.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "glog/logging.h"

// mimalloc's entry points, declared weak: they resolve only when the process has mimalloc
// (mcp-connector links it, README "Dependencies"; or it is preloaded), and are null otherwise.
extern "C" {
__attribute__((weak)) bool mi_is_in_heap_region(const void* p) noexcept;
__attribute__((weak)) void mi_collect(bool force) noexcept;
__attribute__((weak)) void mi_process_info(size_t* elapsed_msecs, size_t* user_msecs,
                                           size_t* system_msecs, size_t* current_rss,
                                           size_t* peak_rss, size_t* current_commit,
                                           size_t* peak_commit, size_t* page_faults) noexcept;
}

namespace kube {
namespace {

Allocator DetectAllocator() {
  if (mi_is_in_heap_region != nullptr && mi_process_info != nullptr && mi_collect != nullptr) {
    // Loaded is not enough: under a sanitizer its runtime still serves malloc.
    void* p = std::malloc(64);
    const bool mimalloc = mi_is_in_heap_region(p);
    std::free(p);
    if (mimalloc) return Allocator::kMimalloc;
  }
  return Allocator::kGlibc;
}

}  // namespace

Allocator CurrentAllocator() {
  static const Allocator allocator = DetectAllocator();
  return allocator;
}

std::string_view AllocatorName(Allocator a) {
  return a == Allocator::kMimalloc ? "mimalloc" : "glibc";
}

HeapStats ReadHeapStats() {
  HeapStats s;
  if (CurrentAllocator() == Allocator::kMimalloc) {
    size_t elapsed = 0, user = 0, sys = 0, rss = 0, peak_rss = 0, commit = 0, peak_commit = 0,
           faults = 0;
    mi_process_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
    s.in_use_bytes = commit;
  } else {
    struct mallinfo2 mi = mallinfo2();
    s.free_bytes = mi.fordblks;
    s.in_use_bytes = mi.uordblks + mi.hblkhd;
  }
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

HeapTrimmer::~HeapTrimmer() { Stop(); }

void HeapTrimmer::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CollectThreadHeap() {
  if (CurrentAllocator() == Allocator::kMimalloc) mi_collect(true);
}

size_t HeapTrimmer::TrimNow() {
  const size_t before = ResidentBytes();
  if (CurrentAllocator() == Allocator::kMimalloc) {
    mi_collect(true);
  } else {
    malloc_trim(0);
  }
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
    if (CurrentAllocator() == Allocator::kMimalloc) {
      if (options_.collect_threads) options_.collect_threads();
      CollectThreadHeap();
      const HeapStats stats = ReadHeapStats();
      lock.lock();
      ++trims_;
      last_ = stats;
      continue;
    }
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
