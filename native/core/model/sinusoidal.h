// Fixed sinusoidal features: for the noise level (conditioning) and for token positions.
#pragma once
#include <torch/torch.h>

namespace lcmd {

// [B] values -> [B, dim] features [sin(x f_i), cos(x f_i)], f_i = max_period^(-i / (dim/2)).
at::Tensor sinusoidal_embedding(const at::Tensor& x, int64_t dim, double max_period = 10000.0);

// [n, dim] features of positions 0..n-1.
at::Tensor sinusoidal_positions(int64_t n, int64_t dim);

}  // namespace lcmd
