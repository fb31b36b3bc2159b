#include "kube/heap_trimmer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

// glibc's allocator itself, also under a sanitizer (which replaces malloc but not these): the
// trimmer acts on glibc's arenas, so that is where the test makes free memory.
extern "C" void* __libc_malloc(size_t size);
extern "C" void __libc_free(void* ptr);

namespace kube {
namespace {

constexpr size_t kChunk = 4096;
constexpr size_t kChunks = 16384;  // 64 MiB

// Leaves ~64 MiB free but resident in the middle of glibc's main heap (a live block above keeps
// free() from trimming the top). Returns the pinning block, to free at the end: the last chunk,
// which came from the top of the heap (a small block could come from a free list further down,
// as it does in a Release build, and pin nothing).
void* MakeFreeResidentMemory() {
  std::vector<void*> chunks(kChunks + 1);
  for (auto& c : chunks) {
    c = __libc_malloc(kChunk);
    std::memset(c, 0x5a, kChunk);
  }
  void* pin = chunks.back();
  chunks.pop_back();
  for (void* c : chunks) __libc_free(c);
  return pin;
}

// This binary does not link mimalloc: glibc's malloc (or a sanitizer's) serves it, and mimalloc's
// weak entry points are not mistaken for it.
TEST(HeapTrimmerTest, TheAllocatorIsGlibcsWithoutMimalloc) {
  EXPECT_EQ(CurrentAllocator(), Allocator::kGlibc);
  EXPECT_EQ(AllocatorName(Allocator::kGlibc), "glibc");
  EXPECT_EQ(AllocatorName(Allocator::kMimalloc), "mimalloc");
}

TEST(HeapTrimmerTest, TrimsOnlyWhenFreeResidentMemoryGrewPastTheThreshold) {
  constexpr size_t kMiB = 1u << 20;
  HeapTrimOptions o;
  o.min_free_bytes = 16 * kMiB;
  HeapStats s;
  s.in_use_bytes = 100 * kMiB;
  s.resident_bytes = 150 * kMiB;  // slack 50 MiB
  s.free_bytes = 16 * kMiB - 1;   // but malloc holds too little free
  EXPECT_FALSE(ShouldTrim(s, 0, o));
  s.free_bytes = 40 * kMiB;
  EXPECT_TRUE(ShouldTrim(s, 0, o));
  EXPECT_TRUE(ShouldTrim(s, 34 * kMiB, o));
  // Already trimmed at this slack: the free bytes are no longer resident; no trim again.
  EXPECT_FALSE(ShouldTrim(s, 35 * kMiB, o));
  EXPECT_FALSE(ShouldTrim(s, 50 * kMiB, o));
  // Live memory is never a reason.
  s.in_use_bytes = 150 * kMiB;
  EXPECT_FALSE(ShouldTrim(s, 0, o));
}

TEST(HeapTrimmerTest, TrimNowGivesFreePagesBackToTheKernel) {
  HeapTrimOptions o;
  o.period = std::chrono::milliseconds(0);  // no thread: only TrimNow
  HeapTrimmer trimmer(o);
  void* pin = MakeFreeResidentMemory();
  const size_t before = ResidentBytes();
  ASSERT_GT(before, 64u << 20);
  const size_t released = trimmer.TrimNow();
  const size_t after = ResidentBytes();
  EXPECT_GE(released, 48u << 20) << "before " << before << " after " << after;
  EXPECT_LE(after + (48u << 20), before);
  EXPECT_EQ(trimmer.trims(), 1u);
  EXPECT_EQ(trimmer.released_bytes(), released);
  __libc_free(pin);
}

TEST(HeapTrimmerTest, TheBackgroundThreadTrimsAfterABurst) {
  void* pin = MakeFreeResidentMemory();
  const HeapStats stats = ReadHeapStats();
  if (stats.free_bytes == 0 && stats.in_use_bytes == 0) {
    __libc_free(pin);
    GTEST_SKIP() << "malloc statistics unavailable under this allocator";
  }
  ASSERT_GE(stats.free_bytes, 48u << 20);
  HeapTrimOptions o;
  o.period = std::chrono::milliseconds(20);
  o.min_free_bytes = 16u << 20;
  HeapTrimmer trimmer(o);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (trimmer.trims() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(trimmer.trims(), 1u);
  EXPECT_GE(trimmer.released_bytes(), 48u << 20);
  // The figures kept for /metrics: malloc still holds the bytes free (no longer resident).
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_GE(trimmer.last_stats().free_bytes, 48u << 20);
  EXPECT_GT(trimmer.last_stats().resident_bytes, 0u);
  // Nothing left worth trimming: the next periods do not trim again.
  const uint64_t trims = trimmer.trims();
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_EQ(trimmer.trims(), trims);
  __libc_free(pin);
}

}  // namespace
}  // namespace kube
