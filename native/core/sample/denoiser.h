// What a sampler needs from a model: logits of p(x | z_t) and the embedding table that maps tokens to R^d.
// The trained Transformer implements it; tests plug in an exact oracle (a mixture over known grids) instead.
#pragma once
#include <torch/torch.h>

#include <string>

#include "core/diffusion/schedule.h"

namespace lcmd {

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  // z: [B, N, d] float32; t: [B] float32 in [0, 1]; classes: [B] int64 (num_classes() means the null class), or an
  // undefined tensor for unconditional models. Returns logits [B, N, K] (float32).
  virtual at::Tensor logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes) = 0;
  // Self-conditioning models also see the previous prediction e_hat [B, N, d] (undefined: none yet); others ignore it.
  virtual bool self_conditioned() const { return false; }
  virtual at::Tensor logits(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes, const at::Tensor& self_cond) {
    return logits(z, t, classes);
  }
  // "lcmd" (continuous diffusion) or "maskgit" (z is E[x] with the [mask] vector at masked positions)
  virtual std::string method() const { return "lcmd"; }
  virtual at::Tensor mask_embedding() { return {}; }  // the [mask] vector [d] of a "maskgit" model
  // The token embedding table [K, d] used for e_hat = softmax(logits) E and for z = alpha e_x + sigma eps.
  virtual at::Tensor embeddings() = 0;
  virtual const NoiseSchedule& schedule() const = 0;
  virtual int64_t num_classes() const = 0;  // 0 for unconditional models; the null class id equals num_classes()
  virtual int64_t vocab_size() const = 0;
  virtual int64_t embed_dim() const = 0;
  virtual int64_t num_tokens() const = 0;   // N = H * W
  virtual c10::Device device() const = 0;
  // A CPU copy of the learned time warp's statistics [2, TimeWarp::kBins] of a model trained with train.timeWarp
  // "learned" (the sampler's timeGrid "learned"); undefined when the model has none.
  virtual at::Tensor time_warp_statistics() const { return {}; }
};

}  // namespace lcmd
