#include "core/model/sinusoidal.h"

#include <cmath>

namespace lcmd {

at::Tensor sinusoidal_embedding(const at::Tensor& x, int64_t dim, double max_period) {
  int64_t half = dim / 2;
  auto options = at::TensorOptions().dtype(x.scalar_type()).device(x.device());
  auto freqs = torch::exp(-std::log(max_period) * torch::arange(half, options) / double(half));
  auto args = x.unsqueeze(-1) * freqs;
  auto out = torch::cat({torch::sin(args), torch::cos(args)}, -1);
  if (dim % 2) out = torch::cat({out, torch::zeros({x.size(0), 1}, options)}, -1);
  return out;
}

at::Tensor sinusoidal_positions(int64_t n, int64_t dim) {
  return sinusoidal_embedding(torch::arange(n, at::kFloat), dim);
}

}  // namespace lcmd
