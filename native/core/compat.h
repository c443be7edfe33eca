// Every difference between libtorch 1.13 (Debian bookworm, CPU) and 2.x (pip / official zip, CUDA) lives here.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#define LCMD_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// Fused scaled_dot_product_attention (flash / memory-efficient kernels) exists from 2.0.
#define LCMD_HAS_SDPA LCMD_TORCH_AT_LEAST(2, 0)

namespace lcmd::compat {

inline const char* torch_version() { return TORCH_VERSION; }

}  // namespace lcmd::compat
