#include "core/tokenizer/vqvae_codebook.h"

#include <cmath>

namespace lcmd {

namespace {

constexpr double kLaplaceEpsilon = 1e-5;

// Rows of `flat` chosen at random (without replacement when there are enough).
at::Tensor random_rows(const at::Tensor& flat, int64_t count, at::Generator& generator) {
  int64_t m = flat.size(0);
  at::Tensor rows = m >= count ? at::randperm(m, generator, at::kLong).slice(0, 0, count)
                               : at::randint(m, {count}, generator, at::kLong);
  return flat.index_select(0, rows);
}

}  // namespace

VqCodebookImpl::VqCodebookImpl(const VqVaeConfig& config)
    : size(config.codebook_size),
      dim(config.code_dim),
      decay(config.ema_decay),
      commitment_weight(config.commitment_weight),
      dead_code_steps(config.dead_code_steps) {
  embedding = register_buffer("embedding", torch::zeros({size, dim}));
  ema_cluster_size = register_buffer("ema_cluster_size", torch::zeros({size}));
  ema_embedding_sum = register_buffer("ema_embedding_sum", torch::zeros({size, dim}));
  unused_steps = register_buffer("unused_steps", torch::zeros({size}, at::kLong));
  initialized = register_buffer("initialized", torch::zeros({}, at::kByte));
}

at::Tensor VqCodebookImpl::nearest(const at::Tensor& flat) const {
  // ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; ||z||^2 is the same for every code, so it drops out of the argmin.
  at::Tensor code_norms = embedding.pow(2).sum(1);
  constexpr int64_t kChunk = 16384;
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < flat.size(0); start += kChunk) {
    at::Tensor z = flat.slice(0, start, std::min(flat.size(0), start + kChunk));
    parts.push_back(at::addmm(code_norms.unsqueeze(0), z, embedding.t(), /*beta=*/1, /*alpha=*/-2).argmin(1));
  }
  return parts.size() == 1 ? parts[0] : at::cat(parts);
}

at::Tensor VqCodebookImpl::lookup(const at::Tensor& indices) const {
  return embedding.index_select(0, indices.reshape(-1)).view({indices.size(0), indices.size(1), indices.size(2), dim}).permute({0, 3, 1, 2});
}

VqQuantized VqCodebookImpl::forward(const at::Tensor& encodings, bool train, at::Generator& generator) {
  int64_t n = encodings.size(0), h = encodings.size(2), w = encodings.size(3);
  at::Tensor flat = encodings.permute({0, 2, 3, 1}).reshape({-1, dim});
  at::Tensor flat_data = flat.detach();
  VqQuantized out;

  if (train && initialized.item<uint8_t>() == 0) {
    // Seeding the codes with encoder outputs puts every code where the data is, so none starts dead.
    torch::NoGradGuard no_grad;
    embedding.copy_(random_rows(flat_data, size, generator));
    ema_embedding_sum.copy_(embedding);
    ema_cluster_size.fill_(1.0);
    initialized.fill_(1);
  }

  at::Tensor indices;
  {
    torch::NoGradGuard no_grad;
    indices = nearest(flat_data);
    out.counts = at::zeros({size}, flat_data.options()).index_add_(0, indices, at::ones({indices.size(0)}, flat_data.options()));
  }
  at::Tensor codes = embedding.index_select(0, indices);  // a buffer: no gradient into the codebook
  out.commitment = commitment_weight * at::mse_loss(flat, codes);
  at::Tensor straight_through = flat + (codes - flat).detach();
  out.quantized = straight_through.view({n, h, w, dim}).permute({0, 3, 1, 2});
  out.indices = indices.view({n, h, w});

  if (train) {
    torch::NoGradGuard no_grad;
    at::Tensor sums = at::zeros({size, dim}, flat_data.options()).index_add_(0, indices, flat_data);
    ema_cluster_size.mul_(decay).add_(out.counts, 1 - decay);
    ema_embedding_sum.mul_(decay).add_(sums, 1 - decay);
    at::Tensor total = ema_cluster_size.sum();
    at::Tensor smoothed = (ema_cluster_size + kLaplaceEpsilon) / (total + size * kLaplaceEpsilon) * total;
    embedding.copy_(ema_embedding_sum / smoothed.unsqueeze(1));

    unused_steps.copy_(at::where(out.counts > 0, at::zeros_like(unused_steps), unused_steps + 1));
    if (dead_code_steps > 0) {
      at::Tensor dead = (unused_steps >= dead_code_steps).nonzero().view(-1);
      out.restarted = dead.numel();
      if (out.restarted > 0) {
        // A code nobody chooses learns nothing; move it onto a random encoder output of this batch.
        at::Tensor fresh = random_rows(flat_data, out.restarted, generator);
        embedding.index_copy_(0, dead, fresh);
        ema_embedding_sum.index_copy_(0, dead, fresh);
        ema_cluster_size.index_fill_(0, dead, 1.0);
        unused_steps.index_fill_(0, dead, 0);
      }
    }
  }
  return out;
}

double vq_perplexity(const at::Tensor& counts) {
  at::Tensor c = counts.to(at::kDouble);
  double total = c.sum().item<double>();
  if (total <= 0) return 0;
  at::Tensor p = c / total;
  double entropy = -(p * at::log(p.clamp_min(1e-300))).sum().item<double>();
  return std::exp(entropy);
}

}  // namespace lcmd
