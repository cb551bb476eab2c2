#include "kernels/cpu_caching_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace nas::kernels {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * 1024;

bool Aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }

TEST(CachingCpuAllocatorTest, ReusesAFreedBufferOfTheSameSize) {
  CachingCpuAllocator allocator(/*min_bytes=*/256 * kKiB, /*max_cached_bytes=*/64 * kMiB);
  void* first = nullptr;
  {
    c10::DataPtr a = allocator.allocate(kMiB);
    first = a.get();
    EXPECT_TRUE(Aligned64(first));
    EXPECT_EQ(allocator.GetStats().live_bytes, kMiB);
  }
  EXPECT_EQ(allocator.GetStats().cached_bytes, kMiB);
  c10::DataPtr b = allocator.allocate(kMiB);
  EXPECT_EQ(b.get(), first);
  const auto stats = allocator.GetStats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.cached_bytes, 0u);
  EXPECT_EQ(stats.live_bytes, kMiB);
}

TEST(CachingCpuAllocatorTest, ServesSmallerRequestsOnlyWithinAnEighth) {
  CachingCpuAllocator allocator(256 * kKiB, 64 * kMiB);
  void* first = allocator.allocate(kMiB).get();  // freed at once: cached
  {
    c10::DataPtr half = allocator.allocate(kMiB / 2);  // would waste half: a new buffer
    EXPECT_NE(half.get(), first);
  }
  c10::DataPtr close = allocator.allocate(kMiB - kMiB / 8);
  EXPECT_EQ(close.get(), first);
  // The whole buffer is accounted for while it is in use.
  EXPECT_EQ(allocator.GetStats().live_bytes, kMiB);
}

TEST(CachingCpuAllocatorTest, KeepsAtMostTheBoundReleasingTheOldestFirst) {
  CachingCpuAllocator allocator(256 * kKiB, /*max_cached_bytes=*/3 * kMiB);
  std::vector<c10::DataPtr> blocks;
  std::vector<void*> addresses;
  for (int i = 0; i < 4; ++i) {
    blocks.push_back(allocator.allocate(kMiB + i * 300 * kKiB));  // four distinct sizes
    addresses.push_back(blocks.back().get());
  }
  for (auto& block : blocks) block.clear();  // freed in order 0, 1, 2, 3
  auto stats = allocator.GetStats();
  EXPECT_LE(stats.cached_bytes, 3 * kMiB);
  EXPECT_EQ(stats.released, 3u);  // 1.0, 1.3 and 1.6 MiB released; 1.9 MiB kept
  EXPECT_EQ(stats.cached_bytes, kMiB + 900 * kKiB);
  c10::DataPtr newest = allocator.allocate(kMiB + 900 * kKiB);
  EXPECT_EQ(newest.get(), addresses[3]);
  c10::DataPtr oldest = allocator.allocate(kMiB);
  EXPECT_EQ(allocator.GetStats().hits, 1u);  // buffer 0 was released, not cached
  (void)oldest;
}

TEST(CachingCpuAllocatorTest, AMissWhileFullRecyclesCachedMemory) {
  CachingCpuAllocator allocator(256 * kKiB, /*max_cached_bytes=*/2 * kMiB);
  allocator.allocate(2 * kMiB).clear();
  EXPECT_EQ(allocator.GetStats().cached_bytes, 2 * kMiB);
  c10::DataPtr other = allocator.allocate(kMiB);  // no fit: the 2 MiB buffer goes first
  const auto stats = allocator.GetStats();
  EXPECT_EQ(stats.released, 1u);
  EXPECT_EQ(stats.cached_bytes, 0u);
}

TEST(CachingCpuAllocatorTest, BuffersLargerThanTheBoundAreNeverCached) {
  CachingCpuAllocator allocator(256 * kKiB, /*max_cached_bytes=*/kMiB);
  allocator.allocate(2 * kMiB).clear();
  EXPECT_EQ(allocator.GetStats().cached_bytes, 0u);
  EXPECT_EQ(allocator.GetStats().released, 1u);
}

TEST(CachingCpuAllocatorTest, SmallAndEmptyRequestsAreNotCachedAndRawApiWorks) {
  CachingCpuAllocator allocator(256 * kKiB, 64 * kMiB);
  EXPECT_EQ(allocator.allocate(0).get(), nullptr);
  {
    c10::DataPtr small = allocator.allocate(100);
    EXPECT_TRUE(Aligned64(small.get()));
    static_cast<char*>(small.get())[99] = 1;
  }
  EXPECT_EQ(allocator.GetStats().cached_bytes, 0u);
  EXPECT_EQ(allocator.GetStats().misses, 0u);
  // oneDNN's ideep allocates through the raw API.
  void* raw_small = allocator.raw_allocate(64);
  void* raw_large = allocator.raw_allocate(kMiB);
  allocator.raw_deallocate(raw_small);
  allocator.raw_deallocate(raw_large);
  EXPECT_EQ(allocator.GetStats().cached_bytes, kMiB);
  allocator.EmptyCache();
  EXPECT_EQ(allocator.GetStats().cached_bytes, 0u);
}

TEST(CachingCpuAllocatorTest, OutOfMemoryEmptiesTheCacheThenThrowsLibTorchsError) {
  CachingCpuAllocator allocator(256 * kKiB, std::size_t{1} << 62);
  allocator.allocate(kMiB).clear();
  EXPECT_EQ(allocator.GetStats().cached_bytes, kMiB);
  EXPECT_THROW(allocator.allocate(std::size_t{1} << 61), c10::Error);  // 2 EiB: refused
  EXPECT_EQ(allocator.GetStats().cached_bytes, 0u);
  EXPECT_EQ(allocator.GetStats().live_bytes, 0u);
  c10::DataPtr after = allocator.allocate(kMiB);  // still usable
  EXPECT_NE(after.get(), nullptr);
}

TEST(CachingCpuAllocatorTest, ManyThreadsAllocateAndFree) {
  CachingCpuAllocator allocator(256 * kKiB, 16 * kMiB);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&allocator, t] {
      for (int i = 0; i < 200; ++i) {
        c10::DataPtr a = allocator.allocate((256 + 64 * ((i + t) % 5)) * kKiB);
        c10::DataPtr b = allocator.allocate(1000);
        static_cast<char*>(a.get())[0] = static_cast<char>(i);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto stats = allocator.GetStats();
  EXPECT_EQ(stats.live_bytes, 0u);
  EXPECT_EQ(stats.hits + stats.misses, 800u);
  EXPECT_LE(stats.cached_bytes, 16 * kMiB);
}

TEST(CachingCpuAllocatorTest, IsLibTorchsCpuAllocatorInEveryBinary) {
  CachingCpuAllocator* installed = InstalledCachingCpuAllocator();
  ASSERT_NE(installed, nullptr);
  EXPECT_EQ(c10::GetCPUAllocator(), installed);
  const auto before = installed->GetStats();
  torch::manual_seed(0);
  // Two training-like passes over a 1 MiB activation: the second reuses the first's
  // buffers and computes the same values.
  std::vector<float> sums;
  for (int pass = 0; pass < 2; ++pass) {
    torch::manual_seed(1);
    auto w = torch::randn({16, 16, 3, 3}, torch::requires_grad());
    auto x = torch::randn({4, 16, 64, 64});
    auto y = torch::conv2d(x, w, {}, 1, 1).relu();
    y.sum().backward();
    sums.push_back(w.grad().sum().item<float>());
  }
  EXPECT_EQ(sums[0], sums[1]);
  EXPECT_GT(installed->GetStats().hits, before.hits);
}

}  // namespace
}  // namespace nas::kernels
