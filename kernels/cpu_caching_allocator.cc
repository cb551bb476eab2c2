#include "kernels/cpu_caching_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iterator>

namespace nas::kernels {

// Lives in the first kHeaderBytes of every cacheable buffer; the tensor's data starts
// right after it, so it keeps LibTorch's 64-byte alignment.
struct CachingCpuAllocator::Block {
  const CachingCpuAllocator* owner;
  std::size_t capacity;  // usable bytes after the header
};

namespace {

constexpr std::size_t kHeaderBytes = 64;
static_assert(sizeof(void*) + sizeof(std::size_t) <= kHeaderBytes);

char* DataOf(void* block) { return static_cast<char*>(block) + kHeaderBytes; }

}  // namespace

CachingCpuAllocator::CachingCpuAllocator(std::size_t min_bytes, std::size_t max_cached_bytes)
    : min_bytes_(std::max<std::size_t>(min_bytes, 1)), max_cached_bytes_(max_cached_bytes) {}

CachingCpuAllocator::~CachingCpuAllocator() { EmptyCache(); }

c10::DataPtr CachingCpuAllocator::allocate(std::size_t n) const {
  const c10::Device cpu(c10::DeviceType::CPU);
  if (n == 0) return {nullptr, nullptr, &CachingCpuAllocator::Delete, cpu};
  if (n < min_bytes_) {
    void* data = DataOf(NewBlock(n));
    return {data, data, &CachingCpuAllocator::Delete, cpu};
  }
  Block* block = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The smallest cached buffer that fits, if it wastes at most an eighth; of those of
    // that size the most recently freed, whose pages are likeliest still in cache.
    auto it = by_size_.lower_bound(n);
    if (it != by_size_.end() && it->first - n <= it->first / 8) {
      it = std::prev(by_size_.upper_bound(it->first));
      auto age = by_age_.find(it->second);
      block = age->second;
      by_age_.erase(age);
      by_size_.erase(it);
      stats_.cached_bytes -= block->capacity;
      ++stats_.hits;
    } else {
      ++stats_.misses;
      // A miss while the cache is full: recycle the oldest buffers first, so a changing
      // mix of sizes reuses memory instead of adding to it.
      if (stats_.cached_bytes + n > max_cached_bytes_) MakeRoomLocked(n);
    }
    if (block != nullptr) {
      stats_.live_bytes += block->capacity;
      stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, stats_.live_bytes);
    }
  }
  if (block == nullptr) {
    block = NewBlock(n);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.live_bytes += n;
    stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, stats_.live_bytes);
  }
  void* data = DataOf(block);
  return {data, data, &CachingCpuAllocator::Delete, cpu};
}

CachingCpuAllocator::Block* CachingCpuAllocator::NewBlock(std::size_t n) const {
  void* memory = nullptr;
  try {
    memory = c10::alloc_cpu(kHeaderBytes + n);
  } catch (const c10::Error&) {
    // Out of memory: give the cached buffers back and try once more; a second failure
    // throws LibTorch's own error naming the size.
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (!by_age_.empty()) ReleaseOldestLocked();
    }
    memory = c10::alloc_cpu(kHeaderBytes + n);
  }
  auto* block = static_cast<Block*>(memory);
  block->owner = this;
  block->capacity = n;
  return block;
}

c10::DeleterFnPtr CachingCpuAllocator::raw_deleter() const { return &CachingCpuAllocator::Delete; }

void CachingCpuAllocator::Delete(void* data) {
  if (data == nullptr) return;
  auto* block = reinterpret_cast<Block*>(static_cast<char*>(data) - kHeaderBytes);
  block->owner->Free(block);
}

void CachingCpuAllocator::Free(Block* block) const {
  if (block->capacity < min_bytes_) {
    c10::free_cpu(block);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.live_bytes -= block->capacity;
  if (block->capacity > max_cached_bytes_) {
    ++stats_.released;
    c10::free_cpu(block);
    return;
  }
  MakeRoomLocked(block->capacity);
  const std::uint64_t stamp = next_stamp_++;
  by_age_.emplace(stamp, block);
  by_size_.emplace(block->capacity, stamp);
  stats_.cached_bytes += block->capacity;
}

void CachingCpuAllocator::MakeRoomLocked(std::size_t bytes) const {
  while (!by_age_.empty() && stats_.cached_bytes + bytes > max_cached_bytes_) {
    ReleaseOldestLocked();
  }
}

void CachingCpuAllocator::ReleaseOldestLocked() const {
  auto oldest = by_age_.begin();
  Block* block = oldest->second;
  auto range = by_size_.equal_range(block->capacity);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == oldest->first) {
      by_size_.erase(it);
      break;
    }
  }
  by_age_.erase(oldest);
  stats_.cached_bytes -= block->capacity;
  ++stats_.released;
  c10::free_cpu(block);
}

CachingCpuAllocator::Stats CachingCpuAllocator::GetStats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingCpuAllocator::EmptyCache() {
  std::lock_guard<std::mutex> lock(mu_);
  while (!by_age_.empty()) ReleaseOldestLocked();
}

namespace {

std::atomic<CachingCpuAllocator*> g_installed{nullptr};
std::once_flag g_install_once;

std::size_t DefaultMaxCachedBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  const std::size_t physical =
      pages > 0 && page_size > 0 ? static_cast<std::size_t>(pages) * page_size : 0;
  return std::max<std::size_t>(physical / 4, std::size_t{1} << 30);
}

}  // namespace

void InstallCachingCpuAllocator() {
  std::call_once(g_install_once, [] {
    // Never destroyed: tensors freed during static destruction still find it.
    static auto* allocator =
        new CachingCpuAllocator(/*min_bytes=*/std::size_t{256} << 10, DefaultMaxCachedBytes());
    // Priority 1 outranks LibTorch's default CPU allocator, registered with 0.
    c10::SetCPUAllocator(allocator, /*priority=*/1);
    g_installed.store(allocator);
  });
}

CachingCpuAllocator* InstalledCachingCpuAllocator() { return g_installed.load(); }

}  // namespace nas::kernels
