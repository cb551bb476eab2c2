#ifndef NAS_KERNELS_CPU_CACHING_ALLOCATOR_H_
#define NAS_KERNELS_CPU_CACHING_ALLOCATOR_H_

#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace nas::kernels {

// A size-keyed cache of large CPU tensor buffers in front of LibTorch's CPU allocator.
//
// A training step or an evaluation batch frees all of its activation buffers and asks
// for the same sizes again on the next batch. Handed to malloc, those requests page-fault:
// glibc unmaps large blocks on free, and jemalloc with retaining settings
// (third_party/jemalloc_conf.cc) keeps them mapped but splits and coalesces its free
// extents so that a varying mix of sizes keeps growing the mapped memory. Measured on the
// 224x224 SPOS supernet at batch 64 (docs/benchmarks.md): the resident set grew from 3.7
// to 9.8 GB over 30 steps and a third of the CPU time was the kernel zeroing new pages.
// Here a freed buffer of at least `min_bytes` is kept whole and handed back to the next
// request of the same size (or up to 1/8 smaller), so after the first batches the same
// memory serves every batch and nothing is faulted again.
//
// Memory is bounded: at most `max_cached_bytes` of freed buffers are kept; past that the
// least recently freed are returned to the allocator underneath (oldest first), also when
// a request misses the cache and the cache is full, so a changing mix of sizes recycles
// memory instead of adding to it; and when the system refuses memory, the whole cache is
// returned before one more try. Smaller requests are allocated and freed directly.
//
// Memory comes from c10::alloc_cpu (malloc, 64-byte aligned, as LibTorch's own CPU
// allocator). Every buffer, cached or not, carries a 64-byte header in front of its data
// and one deleter, so raw_allocate/raw_deallocate work (oneDNN's ideep allocates through
// them). Thread-safe: any thread may allocate and free.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  struct Stats {
    std::uint64_t hits = 0;          // requests served from the cache
    std::uint64_t misses = 0;        // cacheable requests that allocated new memory
    std::uint64_t released = 0;      // cached buffers returned to the system
    std::size_t cached_bytes = 0;    // bytes of freed buffers held now
    std::size_t live_bytes = 0;      // bytes of cacheable buffers in use now
    std::size_t peak_live_bytes = 0;
  };

  // Caches buffers of at least `min_bytes`, keeps at most `max_cached_bytes` freed.
  // Must outlive every buffer it allocated.
  CachingCpuAllocator(std::size_t min_bytes, std::size_t max_cached_bytes);
  ~CachingCpuAllocator() override;

  CachingCpuAllocator(const CachingCpuAllocator&) = delete;
  CachingCpuAllocator& operator=(const CachingCpuAllocator&) = delete;

  c10::DataPtr allocate(std::size_t n) const override;
  c10::DeleterFnPtr raw_deleter() const override;

  Stats GetStats() const;
  // Returns every cached buffer to the system.
  void EmptyCache();

 private:
  struct Block;
  // Allocates a block with room for `n` bytes of data; when the system is out of
  // memory, empties the cache and tries once more.
  Block* NewBlock(std::size_t n) const;
  static void Delete(void* data);
  void Free(Block* block) const;
  // Requires mu_ held. Releases the oldest cached buffers until `bytes` more fit.
  void MakeRoomLocked(std::size_t bytes) const;
  void ReleaseOldestLocked() const;

  const std::size_t min_bytes_;
  const std::size_t max_cached_bytes_;

  mutable std::mutex mu_;
  // Invariant: by_age_ and by_size_ hold the same cached blocks; stats_.cached_bytes is
  // the sum of their capacities.
  mutable std::map<std::uint64_t, Block*> by_age_;           // free order -> block
  mutable std::multimap<std::size_t, std::uint64_t> by_size_;  // capacity -> free order
  mutable std::uint64_t next_stamp_ = 0;
  mutable Stats stats_;
};

// Installs the process-wide caching allocator as LibTorch's CPU allocator; later calls do
// nothing. It caches buffers of at least
// 256 KiB and keeps up to a quarter of the physical memory (at least 1 GiB) of freed
// buffers. Every binary that links //third_party:torch calls it when the program starts
// (//kernels:cpu_caching_allocator_install), unless built with `--define cpu_cache=off`.
// Tensors allocated before keep their own deleter and are freed correctly.
void InstallCachingCpuAllocator();

// The allocator installed by InstallCachingCpuAllocator(), or nullptr.
CachingCpuAllocator* InstalledCachingCpuAllocator();

}  // namespace nas::kernels

#endif  // NAS_KERNELS_CPU_CACHING_ALLOCATOR_H_
