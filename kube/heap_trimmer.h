// HeapTrimmer: gives memory that malloc holds free back to the kernel after a burst.
//
// glibc keeps freed memory in its arenas: pages freed in the middle of a heap stay resident, and
// so does the top of a heap while anything above the trim threshold is still live. After a burst
// (1,000 watches and their upstream connections re-established at once when the control plane
// drops its streams) the burst's peak stays in the process's RSS even when every watch is gone:
// the soak measured +40 MB over four such drops and none of it returned after the watches
// closed. Every `period`, on its own thread (never an I/O thread), the trimmer compares the
// resident set with what malloc has in use; when the difference grew by `min_free_bytes` since
// the last trim (and malloc holds at least that much free), it calls malloc_trim(0), which hands
// every whole free page of every arena back with madvise(MADV_DONTNEED) (what Go's scavenger
// does for the Go heap). Under a sanitizer's allocator glibc's figures stay near zero and it
// trims only when the resident set itself grows.
//
// mcp-connector itself runs on mimalloc (README "Dependencies"). mimalloc keeps the pages a
// thread's heap emptied until that thread collects (mi_collect), and nothing else gives them
// back: a thread that allocated 64 MiB and freed it keeps the 64 MiB resident while it lives
// (another thread's collection reaches only the shared caches, half of it). There mimalloc says
// how much it has committed, not how much of that is free, so every period the trimmer has every
// thread that allocates collect its own heap (`collect_threads`; 50-200 us for a 100 MB heap).
// Which allocator serves malloc is read at run time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

namespace kube {

enum class Allocator { kGlibc, kMimalloc };
// The allocator serving this process's malloc: mimalloc when it is linked or preloaded and no
// sanitizer runtime owns malloc, glibc's otherwise (a sanitizer's counts as glibc's: its figures
// come through mallinfo2 too).
Allocator CurrentAllocator();
std::string_view AllocatorName(Allocator a);

// Gives the calling thread's free memory back to the kernel. mimalloc: collects this thread's heap
// and the shared caches (mi_collect(true)). glibc: nothing (its trim covers every arena).
void CollectThreadHeap();

struct HeapTrimOptions {
  std::chrono::milliseconds period{std::chrono::seconds(10)};
  size_t min_free_bytes = 4u << 20;  // below this, trimming is not worth an arena walk
  // mimalloc only: called every period on the trimmer's thread; has every thread that allocates
  // run CollectThreadHeap() soon (the server posts it to its io threads). Must not block.
  std::function<void()> collect_threads;
};

struct HeapStats {
  // glibc: held by malloc, free, resident or not (mallinfo2().fordblks). mimalloc: 0 (unknown).
  size_t free_bytes = 0;
  // glibc: allocated and live (uordblks + hblkhd). mimalloc: what it has committed, which also
  // holds the free blocks of partly used pages.
  size_t in_use_bytes = 0;
  size_t resident_bytes = 0;  // the process's resident set
  // Resident but not in use by malloc's callers: code, stacks, and free pages malloc kept.
  size_t slack() const { return resident_bytes > in_use_bytes ? resident_bytes - in_use_bytes : 0; }
};

// Reads malloc's statistics (walks every arena's free lists under its lock: milliseconds at
// most; call it off the I/O threads) and the resident set.
HeapStats ReadHeapStats();

// The trimmer's decision, separate so it can be tested with any figures: `slack_floor` is the
// slack measured right after the previous trim (0 before the first).
bool ShouldTrim(const HeapStats& stats, size_t slack_floor, const HeapTrimOptions& options);

class HeapTrimmer {
 public:
  explicit HeapTrimmer(HeapTrimOptions options = {});
  ~HeapTrimmer();  // Stop()
  // Stops the thread (waits for a period in progress): after it, collect_threads is not called.
  void Stop();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // Trims now, whatever the statistics say (glibc: malloc_trim(0); mimalloc: mi_collect(true),
  // the calling thread's heap and what ended threads left); returns the resident bytes it gave
  // back (RSS before minus after, 0 when it grew meanwhile).
  size_t TrimNow();

  // glibc: trims done; mimalloc: collection rounds (one per period).
  uint64_t trims() const;
  uint64_t released_bytes() const;
  // The statistics read at the last period (zeros before the first): for metrics, which must not
  // walk the arenas on an I/O thread.
  HeapStats last_stats() const;

 private:
  void Run();

  const HeapTrimOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t trims_ = 0;
  uint64_t released_ = 0;
  HeapStats last_;
  std::thread thread_;
};

// The process's resident set in bytes (/proc/self/statm), 0 when it cannot be read.
size_t ResidentBytes();

}  // namespace kube
