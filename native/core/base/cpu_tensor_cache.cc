#include "core/base/cpu_tensor_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/base/compat.h"

namespace lcmd {

namespace {

constexpr size_t kAlignment = 64;         // what libtorch's own CPU allocator gives (vectorised kernels rely on it)
constexpr size_t kHeader = kAlignment;    // the block's size class sits just before the data, keeping the alignment
constexpr size_t kMinCached = 64 << 10;   // below this, malloc's own bins serve blocks without faults

// Rounds up to one of 8 classes per power of two: at most 12.5% is wasted, and sizes that differ a little share
// a class (the last, shorter batch of an epoch; a sampling batch of another size).
size_t size_class(size_t bytes) {
  if (bytes < kMinCached) return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  size_t power = size_t(1) << (63 - __builtin_clzll(bytes));
  size_t step = power / 8;
  return (bytes + step - 1) / step * step;
}

int64_t default_capacity() {
  if (const char* mib = std::getenv("LCMD_HEAP_CACHE_MIB")) return std::max<int64_t>(0, std::strtoll(mib, nullptr, 10)) << 20;
  const int64_t physical = int64_t(sysconf(_SC_PHYS_PAGES)) * int64_t(sysconf(_SC_PAGESIZE));
  return std::min<int64_t>(int64_t(4) << 30, physical / 4);
}

class CpuTensorCache final : public c10::Allocator {
 public:
  explicit CpuTensorCache(int64_t capacity) : capacity_(capacity) {}

  c10::DataPtr allocate(size_t bytes) LCMD_ALLOCATE_CONST override {
    void* data = bytes == 0 ? nullptr : take(size_class(bytes));
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  // pure virtual from libtorch 2.3 (an ordinary member before)
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  CpuTensorCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    CpuTensorCacheStats s;
    s.mode = "lcmd";
    s.capacity_bytes = capacity_;
    s.cached_bytes = cached_;
    s.hits = hits_;
    s.misses = misses_;
    return s;
  }

  static CpuTensorCache* instance;

 private:
  void* take(size_t cls) const {
    if (cls >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(cls);
      if (it != free_.end() && !it->second.empty()) {
        void* base = it->second.back();
        it->second.pop_back();
        cached_ -= int64_t(cls);
        ++hits_;
        return static_cast<char*>(base) + kHeader;
      }
      ++misses_;
    }
    void* base = nullptr;
    if (posix_memalign(&base, kAlignment, kHeader + cls) != 0) {
      trim();  // the cache may hold what this request needs, in other classes
      if (posix_memalign(&base, kAlignment, kHeader + cls) != 0) throw std::bad_alloc();
    }
    *static_cast<size_t*>(base) = cls;
    return static_cast<char*>(base) + kHeader;
  }

  void give_back(void* data) const {
    void* base = static_cast<char*>(data) - kHeader;
    const size_t cls = *static_cast<size_t*>(base);
    if (cls >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + int64_t(cls) <= capacity_) {
        free_[cls].push_back(base);
        cached_ += int64_t(cls);
        return;
      }
    }
    std::free(base);
  }

  void trim() const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [cls, blocks] : free_) {
      for (void* base : blocks) std::free(base);
      blocks.clear();
    }
    cached_ = 0;
  }

  static void release(void* data) {
    if (data) instance->give_back(data);
  }

  const int64_t capacity_;
  // mutable: libtorch 1.13's allocate() is const
  mutable std::mutex mutex_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;
  mutable int64_t cached_ = 0, hits_ = 0, misses_ = 0;
};

CpuTensorCache* CpuTensorCache::instance = nullptr;

bool use_cache() {
  const char* heap = std::getenv("LCMD_HEAP");
  return !(heap && std::string(heap) == "system");
}

}  // namespace

void install_cpu_tensor_cache() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!use_cache()) return;
    // never destroyed: tensors freed during process exit still return their blocks here
    CpuTensorCache::instance = new CpuTensorCache(default_capacity());
    c10::SetCPUAllocator(CpuTensorCache::instance, /*priority=*/1);
  });
}

CpuTensorCacheStats cpu_tensor_cache_stats() {
  if (!CpuTensorCache::instance) return {"system"};
  return CpuTensorCache::instance->stats();
}

}  // namespace lcmd
