#include "core/base/cuda_memory.h"

#include <torch/torch.h>

#include <string>

#include "core/base/error.h"

#ifdef LCMD_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace lcmd {

namespace {

void check_device(int device) {
#ifdef LCMD_WITH_CUDA
  const int count = static_cast<int>(torch::cuda::device_count());
  LCMD_CHECK(device >= 0 && device < count, "E_CONFIG",
             "CUDA device " + std::to_string(device) + " is not visible (" + std::to_string(count) + " CUDA devices)");
#else
  fail("E_CONFIG", "this build of lcmd has no CUDA: CUDA memory statistics need the CMake build against a CUDA libtorch");
#endif
}

}  // namespace

CudaMemoryStats cuda_memory_stats(int device) {
  check_device(device);
#ifdef LCMD_WITH_CUDA
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  constexpr size_t kAggregate = 0;  // StatType::AGGREGATE, whose namespace moved between libtorch versions
  return {stats.allocated_bytes[kAggregate].current, stats.allocated_bytes[kAggregate].peak, stats.reserved_bytes[kAggregate].current};
#else
  return {};
#endif
}

void reset_cuda_peak_memory(int device) {
  check_device(device);
#ifdef LCMD_WITH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
#endif
}

}  // namespace lcmd
