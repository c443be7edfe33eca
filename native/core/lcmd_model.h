// The VQ-LCMD network: token embeddings plus the conditional bidirectional Transformer f_theta(z_t, t, c) that
// returns logits [B, N, K] (SPEC sections 2 and 5).
#pragma once
#include <torch/torch.h>

#include "core/model_config.h"
#include "core/schedule.h"
#include "core/token_embedding.h"
#include "core/transformer_block.h"

namespace lcmd {

class LcmdModelImpl : public torch::nn::Module {
 public:
  explicit LcmdModelImpl(ModelConfig config);

  // z: [B, N, d]; t: [B] in [0, 1]; classes: [B] int64 in [0, C] (C = null) or undefined (unconditional / all null).
  at::Tensor forward(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes);
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

  ModelConfig config_;
  NoiseSchedule schedule_;
  TokenEmbedding embedding_{nullptr};
  torch::nn::Linear in_proj_{nullptr};
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
