// The VQ-LCMD network: token embeddings plus the conditional bidirectional Transformer f_theta(z_t, t, c) that
// returns logits [B, N, K] (docs/method.md sections 2 and 5).
#pragma once
#include <torch/torch.h>

#include "core/model/model_config.h"
#include "core/diffusion/schedule.h"
#include "core/model/token_embedding.h"
#include "core/model/transformer_block.h"

namespace lcmd {

// Optional inputs of a forward pass beyond (z, t, c).
struct ForwardExtras {
  at::Tensor self_cond;  // [B, N, d] the previous prediction e_hat (self-conditioning models); undefined: zeros
  at::Tensor dropped;    // [B, N] bool: positions holding the [mask] vector, which get no exact-likelihood term
};

class LcmdModelImpl : public torch::nn::Module {
 public:
  explicit LcmdModelImpl(ModelConfig config);

  // z: [B, N, d]; t: [B] in [0, 1]; classes: [B] int64 in [0, C] (C = null) or undefined (unconditional / all null).
  at::Tensor forward(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes, const ForwardExtras& extras = {});
  // MaskGIT input: E[x] with the [mask] vector where `masked` is true. tokens [B, N] int64, masked [B, N] bool.
  at::Tensor masked_input(const at::Tensor& tokens, const at::Tensor& masked) const;
  // e_hat = softmax(logits) E: the probability-weighted mean of the table, [B, N, d].
  at::Tensor predicted_embedding(const at::Tensor& logits) const;

  const ModelConfig& config() const { return config_; }
  const NoiseSchedule& schedule() const { return schedule_; }
  TokenEmbedding& embedding() { return embedding_; }
  const TokenEmbedding& embedding() const { return embedding_; }
  int64_t parameter_count() const;

 private:
  void build();
  at::Tensor conditioning(const at::Tensor& t, const at::Tensor& classes);
  // log N(z_i; alpha_t e_k, sigma_t^2 I) up to a constant in k, [B, N, K] in `type`
  at::Tensor exact_log_likelihood(const at::Tensor& z, const at::Tensor& t, at::ScalarType type) const;

  ModelConfig config_;
  NoiseSchedule schedule_;
  TokenEmbedding embedding_{nullptr};
  torch::nn::Linear in_proj_{nullptr};
  at::Tensor posterior_table_;  // [K, hidden], posteriorInput models only
  at::Tensor positions_;
  torch::nn::Sequential time_mlp_{nullptr};
  torch::nn::Embedding class_embed_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm final_norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(LcmdModel);

// A new model with the same config and a copy of every parameter, on the source's device and dtype
// (the EMA copies and float64 test copies).
LcmdModel copy_model(LcmdModelImpl& source);

}  // namespace lcmd
