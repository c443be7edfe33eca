// Warp-level sums shared by the CUDA kernels that reduce rows (native/cuda/adaptive_norm.cu, token_loss.cu).
#pragma once

namespace lcmd::fused {

// The sum of v over the 32 lanes of a warp, returned to every lane.
__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

}  // namespace lcmd::fused
