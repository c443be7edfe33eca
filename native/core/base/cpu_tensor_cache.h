// A caching allocator for libtorch's CPU tensors. Under glibc's defaults a training step or a sampling loop maps
// most of its large tensors afresh and gives them back when they are freed (the work runs on a worker thread, whose
// malloc arena trims its heap, and glibc's mmap threshold adapts only up to 32 MiB), so every step faults its working
// set in again: on the bench/cpu-vs-pytorch model (batch 64, one thread), 22k minor faults and 15% of a training step
// in the kernel. glibc's own knobs (mallopt) reach only threads that have no arena yet, and Node starts its threads
// before the addon loads. So blocks of 64 KiB and more are kept here when freed, in size classes (8 per power of
// two), and handed out again for the next request of that class: the shapes of a step repeat, so after the first
// step almost every large tensor is a reused block. Smaller blocks go straight to malloc, which serves them well.
//
// The cache holds at most `capacity` bytes (min(4 GiB, a quarter of physical memory); LCMD_HEAP_CACHE_MIB sets it);
// a block freed when the cache is full goes back to the system. A process's resident memory is therefore its peak
// working set plus at most the capacity. LCMD_HEAP=system keeps libtorch's own allocator (lib/binding.ts checks the
// value and passes it on).
#pragma once
#include <cstdint>
#include <string>

namespace lcmd {

struct CpuTensorCacheStats {
  std::string mode;               // "lcmd" (this cache serves CPU tensors) or "system" (libtorch's allocator)
  int64_t capacity_bytes = 0;
  int64_t cached_bytes = 0;       // free blocks held now
  int64_t hits = 0;               // requests of >= 64 KiB served from the cache
  int64_t misses = 0;             // requests of >= 64 KiB that went to malloc
};

// Installs the cache as libtorch's CPU allocator, once (later calls do nothing). Call before the first tensor exists.
void install_cpu_tensor_cache();
CpuTensorCacheStats cpu_tensor_cache_stats();

}  // namespace lcmd
