// Infilling and inpainting (docs/method.md section 8): known tokens x_M at positions M stay fixed. Before each prediction
// z_t[M] is replaced by a fresh draw alpha_t e_{x_M} + sigma_t eps, and the output keeps x_M exactly.
#pragma once
#include <torch/torch.h>

namespace lcmd {

struct KnownTokens {
  at::Tensor tokens;  // [n, N] or [1, N] (one row for every sample) int64; only masked entries are read
  at::Tensor mask;    // same shape, bool: true where the token is known

  bool defined() const { return mask.defined(); }
  // Rows [first, first + count) (the single broadcast row repeated), with unmasked tokens set to 0, on `device`.
  KnownTokens rows(int64_t first, int64_t count, c10::Device device) const;
};

// z_t [B, N, d] with the known positions replaced by alpha_t e_{x_M} + sigma_t eps (eps [B, N, d]).
at::Tensor noise_known(const at::Tensor& z_t, const KnownTokens& known, const at::Tensor& table, double alpha_t, double sigma_t,
                       const at::Tensor& eps);

// tokens [B, N] with the known positions set to the known tokens.
at::Tensor keep_known(const at::Tensor& tokens, const KnownTokens& known);

// probs [B, N, K] with the known positions set to one-hot rows of the known tokens (so they agree with the output).
at::Tensor keep_known_probs(const at::Tensor& probs, const KnownTokens& known);

}  // namespace lcmd
