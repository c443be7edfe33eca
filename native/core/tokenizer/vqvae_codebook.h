// The VQ-VAE codebook: nearest-code quantization with a straight-through gradient and a commitment loss, codes
// learned by exponential moving averages of their assigned encoder outputs (k-means-like, with Laplace
// smoothing of the counts), data-dependent initialization on the first batch, and restart of dead codes.
#pragma once
#include <torch/torch.h>

#include "core/tokenizer/vqvae_config.h"

namespace lcmd {

struct VqQuantized {
  at::Tensor quantized;   // [n, D, h, w]: the codes, with gradients passed straight through to the encodings
  at::Tensor indices;     // int64 [n, h, w]
  at::Tensor commitment;  // scalar: weight * ||z - sg(code)||^2 (mean)
  at::Tensor counts;      // float [K]: how often each code was chosen in this batch
  int64_t restarted = 0;  // dead codes restarted by this training step
};

struct VqCodebookImpl : torch::nn::Module {
  explicit VqCodebookImpl(const VqVaeConfig& config);

  // Quantizes encodings [n, D, h, w]. With `train`, also updates the codes (EMA) and restarts dead ones,
  // drawing restart points with `generator`.
  VqQuantized forward(const at::Tensor& encodings, bool train, at::Generator& generator);
  // Nearest code for each row of [M, D] (chunked so memory stays bounded for large M).
  at::Tensor nearest(const at::Tensor& flat) const;
  // indices [n, h, w] -> codes [n, D, h, w]
  at::Tensor lookup(const at::Tensor& indices) const;

  int64_t size;
  int64_t dim;
  double decay;
  double commitment_weight;
  int64_t dead_code_steps;
  at::Tensor embedding;         // [K, D]
  at::Tensor ema_cluster_size;  // [K]
  at::Tensor ema_embedding_sum; // [K, D]
  at::Tensor unused_steps;      // int64 [K]: consecutive training steps since each code was last chosen
  at::Tensor initialized;       // uint8 scalar: 1 once the first batch has seeded the codes
};
TORCH_MODULE(VqCodebook);

// exp(entropy) of the code frequencies `counts` [K]; K when every code is equally used, 1 when one code is.
double vq_perplexity(const at::Tensor& counts);

}  // namespace lcmd
