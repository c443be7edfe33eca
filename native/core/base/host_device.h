// Per-element math shared by a CPU loop and a CUDA kernel is written once, as functions both compilers accept.
#pragma once

#if defined(__CUDACC__)
#define LCMD_HOST_DEVICE __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// always inlined, so that a CPU loop calling it can be vectorised (also inside target_clones variants)
#define LCMD_HOST_DEVICE inline __attribute__((always_inline))
#else
#define LCMD_HOST_DEVICE inline
#endif
