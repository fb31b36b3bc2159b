// kube/heap_trimmer.h in a process that runs on mimalloc, as mcp-connector does (this binary links
// it, README "Dependencies"): the allocator is recognised, its figures are mimalloc's, and the
// trimmer has every thread give back the pages its heap emptied.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "kube/heap_trimmer.h"

namespace kube {
namespace {

using namespace std::chrono_literals;

constexpr size_t kMiB = 1u << 20;

// 64 MiB in 4 KiB blocks, every page touched.
std::vector<void*> Allocate64MiB() {
  std::vector<void*> chunks(16384);
  for (auto& c : chunks) {
    c = std::malloc(4096);
    std::memset(c, 0x5a, 4096);
  }
  return chunks;
}

TEST(HeapMimallocTest, MimallocIsRecognisedAndItsCommitIsReported) {
  ASSERT_EQ(CurrentAllocator(), Allocator::kMimalloc);
  EXPECT_EQ(AllocatorName(CurrentAllocator()), "mimalloc");

  const HeapStats before = ReadHeapStats();
  std::vector<void*> chunks = Allocate64MiB();
  const HeapStats during = ReadHeapStats();
  EXPECT_GE(during.in_use_bytes, before.in_use_bytes + 60 * kMiB);
  EXPECT_GE(during.resident_bytes, before.resident_bytes + 60 * kMiB);
  // mimalloc does not say how much of what it committed is free: never a reason to trim.
  EXPECT_EQ(during.free_bytes, 0u);
  EXPECT_FALSE(ShouldTrim(during, 0, HeapTrimOptions{}));

  for (void* c : chunks) std::free(c);
  HeapTrimOptions o;
  o.period = 0ms;  // no thread: only TrimNow
  HeapTrimmer trimmer(o);
  // This thread's heap (mi_collect(true)). The first collection frees the emptied pages and
  // schedules their decommit; a collection at least 25 ms later does it.
  trimmer.TrimNow();
  std::this_thread::sleep_for(100ms);
  trimmer.TrimNow();
  EXPECT_EQ(trimmer.trims(), 2u);
  const HeapStats after = ReadHeapStats();
  EXPECT_LE(after.in_use_bytes + 48 * kMiB, during.in_use_bytes);
  EXPECT_LE(after.resident_bytes + 48 * kMiB, during.resident_bytes);
}

// A thread that allocated 64 MiB and freed it keeps them resident (another thread's collection
// gives back about half); the trimmer's collect_threads has it collect its own heap, as the
// server has its io threads.
TEST(HeapMimallocTest, TheTrimmerHasEveryThreadCollectItsOwnHeap) {
  ASSERT_EQ(CurrentAllocator(), Allocator::kMimalloc);
  const size_t base = ResidentBytes();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::function<void()>> posted;
  bool done = false;
  std::atomic<bool> freed = false;
  std::thread worker([&] {
    for (void* c : Allocate64MiB()) std::free(c);
    freed = true;
    std::unique_lock lock(mu);
    while (!done) {
      cv.wait(lock, [&] { return done || !posted.empty(); });
      auto run = std::move(posted);
      posted.clear();
      lock.unlock();
      for (auto& fn : run) fn();
      lock.lock();
    }
  });
  while (!freed) std::this_thread::sleep_for(1ms);
  const size_t peak = ResidentBytes();
  EXPECT_GE(peak, base + 60 * kMiB);

  std::atomic<int> rounds = 0;
  HeapTrimOptions o;
  o.period = 50ms;
  o.collect_threads = [&] {
    ++rounds;
    std::lock_guard lock(mu);
    posted.push_back(CollectThreadHeap);
    cv.notify_all();
  };
  HeapTrimmer trimmer(o);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (ResidentBytes() > base + 16 * kMiB && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LE(ResidentBytes(), base + 16 * kMiB) << "peak " << peak / kMiB << " MiB";
  EXPECT_GE(rounds.load(), 1);
  trimmer.Stop();
  const int after_stop = rounds.load();
  std::this_thread::sleep_for(120ms);
  EXPECT_EQ(rounds.load(), after_stop);  // stopped: collect_threads is no longer called
  EXPECT_GE(trimmer.trims(), 1u);
  EXPECT_GT(trimmer.last_stats().in_use_bytes, 0u);
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  worker.join();
}

}  // namespace
}  // namespace kube
