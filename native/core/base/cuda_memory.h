// The CUDA caching allocator's memory statistics of one device, for benchmark reports (peak memory beside PyTorch's
// torch.cuda.max_memory_allocated, which reads the same counters).
#pragma once
#include <cstdint>

namespace lcmd {

struct CudaMemoryStats {
  int64_t allocated_bytes;       // held by live tensors now
  int64_t peak_allocated_bytes;  // the most held at once since the last reset
  int64_t reserved_bytes;        // taken from the driver by the caching allocator
};

// E_CONFIG when this build has no CUDA or `device` is not a visible CUDA device.
CudaMemoryStats cuda_memory_stats(int device);
void reset_cuda_peak_memory(int device);

}  // namespace lcmd
