#include "core/base/threads.h"

#include <dlfcn.h>
#include <torch/torch.h>

#include "core/base/error.h"

namespace lcmd {

namespace {

// OpenBLAS's entry points, found in whatever BLAS the process loaded (libtorch links libblas.so.3 dynamically).
using SetThreads = void (*)(int);
using GetThreads = int (*)();
SetThreads openblas_set() { return reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")); }
GetThreads openblas_get() { return reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")); }

}  // namespace

void set_num_threads(int n) {
  LCMD_CHECK(n >= 1 && n <= 1024, "E_RANGE", "thread count must be between 1 and 1024, got " + std::to_string(n));
  at::set_num_threads(n);
  if (auto set = openblas_set()) set(n);
  static bool inter_op_set = false;
  if (!inter_op_set) {
    inter_op_set = true;
    try {
      at::set_num_interop_threads(n);
    } catch (const c10::Error&) {
      // already started by an earlier parallel call: it keeps its size
    }
  }
}

int num_threads() { return at::get_num_threads(); }

ThreadPools thread_pools() {
  ThreadPools p;
  p.intra_op = at::get_num_threads();
  p.inter_op = at::get_num_interop_threads();
  if (auto get = openblas_get()) p.openblas = get();
  return p;
}

}  // namespace lcmd
