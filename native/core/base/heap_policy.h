// How the C heap serves libtorch's CPU tensors. Under glibc's defaults every large tensor of a training step is a
// fresh mmap (the mmap threshold adapts, but only up to 32 MiB), and memory freed on a worker thread returns to that
// thread's arena and is trimmed back to the kernel, so each step faults in its working set again: measured on the
// 7x7 paper-small benchmark step (batch 64, one thread), 24k minor faults and 16% of the step in the kernel
// (bench/heap-policy.ts). The policy keeps freed blocks in one arena for reuse: one arena, large mmap and trim
// thresholds, a top pad. Set LCMD_HEAP=system to keep glibc's defaults; a MALLOC_* variable that glibc reads
// (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_) wins over the policy's value.
#pragma once
#include <cstdint>
#include <string>

namespace lcmd {

struct HeapPolicy {
  std::string mode;  // "lcmd", "system" (LCMD_HEAP=system) or "unsupported" (not glibc)
  int64_t arena_max = 0;        // 0: glibc's default (8 x cores), or set from the environment (see `from_env`)
  int64_t mmap_threshold = 0;   // bytes
  int64_t trim_threshold = 0;   // bytes
  int64_t top_pad = 0;          // bytes
  std::string from_env;         // the MALLOC_* variables that kept their value, comma-separated
};

// Applies the policy once (later calls return what the first applied). Call before the first tensor is allocated.
const HeapPolicy& apply_heap_policy();

}  // namespace lcmd
