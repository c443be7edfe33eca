#include "core/base/heap_policy.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lcmd {

namespace {

constexpr int64_t kMiB = int64_t(1) << 20;

HeapPolicy make_policy() {
  HeapPolicy p;
  const char* heap = std::getenv("LCMD_HEAP");
  if (heap && std::string(heap) == "system") {
    p.mode = "system";
    return p;
  }
#if defined(__GLIBC__)
  p.mode = "lcmd";
  // Blocks up to 256 MiB come from the heap and are reused; free memory above 1 GiB at the top of the heap still goes
  // back to the kernel, so a long run's resident memory is its peak working set, not every size it ever freed.
  struct Setting {
    int param;
    const char* env;
    int64_t value;
    int64_t* field;
  } settings[] = {
      {M_ARENA_MAX, "MALLOC_ARENA_MAX", 1, &p.arena_max},
      {M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", 256 * kMiB, &p.mmap_threshold},
      {M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", 1024 * kMiB, &p.trim_threshold},
      {M_TOP_PAD, "MALLOC_TOP_PAD_", 64 * kMiB, &p.top_pad},
  };
  for (auto& s : settings) {
    if (const char* v = std::getenv(s.env)) {
      *s.field = std::strtoll(v, nullptr, 10);
      p.from_env += (p.from_env.empty() ? "" : ",") + std::string(s.env);
      continue;
    }
    if (mallopt(s.param, int(s.value)) == 1) *s.field = s.value;
  }
#else
  p.mode = "unsupported";
#endif
  return p;
}

}  // namespace

const HeapPolicy& apply_heap_policy() {
  static const HeapPolicy policy = make_policy();
  return policy;
}

}  // namespace lcmd
