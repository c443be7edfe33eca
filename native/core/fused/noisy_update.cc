#include "core/fused/noisy_update.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "core/base/error.h"
#include "core/fused/counter_noise_fill.h"
#include "core/fused/noisy_update_math.h"

namespace lcmd::fused {

namespace {

// Chunks small enough that their noise is still in L1 when the update reads it.
constexpr int64_t kChunk = 1024;

at::Tensor noisy_update_cpu(const at::Tensor& z_in, const at::Tensor& e_in, const NoisyUpdateCoefficients& c, const ExampleStreams& streams) {
  auto z = z_in.contiguous();
  auto e = e_in.defined() ? e_in.to(at::kFloat).contiguous() : e_in;
  auto out = torch::empty_like(z);
  const int64_t rows = streams.count, m = rows > 0 ? z.numel() / rows : 0;
  const auto keys = stream_row_keys(streams);
  const float* zp = z.data_ptr<float>();
  const float* ep = e.defined() ? e.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  at::parallel_for(0, rows * m, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i += kChunk) {
      const int64_t n = std::min(kChunk, end - i);
      // the chunk's noise goes to its place in `out` (the fill takes flat indices of the whole array), then the
      // update reads it back from L1 and overwrites it
      fill_counter_noise(keys.data(), m, i, i + n, true, op);
      if (ep != nullptr) {
        for (int64_t k = i; k < i + n; ++k) op[k] = noisy_update_element(zp[k], ep[k], op[k], c);
      } else {
        for (int64_t k = i; k < i + n; ++k) op[k] = noisy_jump_element(zp[k], op[k], c);
      }
    }
  });
  return out;
}

}  // namespace

bool noisy_update_is_fused(const at::Tensor& z) {
#ifdef LCMD_WITH_CUDA
  if (z.is_cuda()) return z.scalar_type() == at::kFloat;
#endif
  return z.device().is_cpu() && z.scalar_type() == at::kFloat;
}

at::Tensor noisy_update(const at::Tensor& z, const at::Tensor& e_hat, const NoisyUpdateCoefficients& c, const ExampleStreams& streams) {
  LCMD_CHECK(z.dim() >= 1 && z.size(0) == streams.count, "E_SHAPE", "the noisy update needs one noise stream per row of z");
  LCMD_CHECK(!e_hat.defined() || e_hat.sizes() == z.sizes(), "E_SHAPE", "the noisy update needs e_hat of z's shape");
  if (!noisy_update_is_fused(z)) {
    const int64_t m = streams.count > 0 ? z.numel() / streams.count : 0;
    auto noise = counter_normal(streams, m, z.device()).to(z.scalar_type()).view(z.sizes());
    auto out = z * c.coef_z + noise * c.noise_std;
    return e_hat.defined() ? out + e_hat.to(z.scalar_type()) * c.coef_x : out;
  }
#ifdef LCMD_WITH_CUDA
  if (z.is_cuda()) return noisy_update_cuda(z, e_hat, c, streams);
#endif
  return noisy_update_cpu(z, e_hat, c, streams);
}

}  // namespace lcmd::fused
