// Every difference between libtorch 1.13 (Debian bookworm, CPU) and 2.x (pip / official zip, CUDA) lives here.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#define LCMD_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// c10::Allocator: allocate() lost its const and copy_data() became pure virtual in 2.3.
#if LCMD_TORCH_AT_LEAST(2, 3)
#define LCMD_ALLOCATE_CONST
#else
#define LCMD_ALLOCATE_CONST const
#endif

// Fused scaled_dot_product_attention (flash / memory-efficient kernels) exists from 2.0.
#define LCMD_HAS_SDPA LCMD_TORCH_AT_LEAST(2, 0)

namespace lcmd::compat {

inline const char* torch_version() { return TORCH_VERSION; }

}  // namespace lcmd::compat

namespace lcmd::compat {

// softmax(q k^T / sqrt(dh)) v with dropout on the attention weights; q, k, v: [B, heads, N, dh].
// 2.x: the fused kernels (flash / memory-efficient on CUDA); 1.13: the same math spelled out.
inline at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double dropout_p) {
#if LCMD_HAS_SDPA
  return at::scaled_dot_product_attention(q, k, v, {}, dropout_p, false);
#else
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(q.size(-1)));
  auto weights = torch::softmax(scores, -1);
  if (dropout_p > 0) weights = torch::dropout(weights, dropout_p, true);
  return torch::matmul(weights, v);
#endif
}

}  // namespace lcmd::compat

namespace lcmd::compat {

// bf16 autocast for CUDA forward passes; a no-op when disabled. Thread-local, so set inside the worker thread.
class AutocastScope {
 public:
  explicit AutocastScope(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
#if LCMD_TORCH_AT_LEAST(2, 4)
    previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    previous_ = at::autocast::is_enabled();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
  }
  ~AutocastScope() {
    if (!enabled_) return;
#if LCMD_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(at::kCUDA, previous_);
#else
    at::autocast::set_enabled(previous_);
#endif
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  bool previous_ = false;
};

}  // namespace lcmd::compat
