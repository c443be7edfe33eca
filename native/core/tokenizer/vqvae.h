// The VQ-VAE tokenizer: encoder, codebook and decoder; training with Adam on reconstruction MSE plus the
// commitment loss (the codebook learns by EMA); batched encode / decode; evaluation (MSE, PSNR, codebook
// usage and perplexity); and save / load as .safetensors with the config under "lcmd.tokenizer.config".
// One call at a time runs on a VqVae (an internal mutex serialises them).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>

#include "core/base/task_context.h"
#include "core/tokenizer/vqvae_codebook.h"
#include "core/tokenizer/vqvae_coders.h"
#include "core/tokenizer/vqvae_config.h"

namespace lcmd {

struct VqVaeNetImpl : torch::nn::Module {
  explicit VqVaeNetImpl(const VqVaeConfig& config);
  VqEncoder encoder{nullptr};
  VqCodebook codebook{nullptr};
  VqDecoder decoder{nullptr};
};
TORCH_MODULE(VqVaeNet);

struct VqTrainOptions {
  int64_t steps = 1000;
  int64_t batch_size = 128;
  double lr = 2e-3;
  uint64_t seed = 0;
  int64_t report_every = 10;  // progress events every this many steps (and at the last step)
};

struct VqTrainResult {
  int64_t steps = 0;          // steps of this call
  double loss = 0;            // of the last step
  double reconstruction = 0;  // MSE of the last step
  double commitment = 0;
  double perplexity = 0;      // of the last batch's codes
  double usage = 0;           // fraction of codes chosen in the last batch
  int64_t restarted = 0;      // dead codes restarted during the call
  double seconds = 0;
};

struct VqEvaluation {
  int64_t count = 0;
  double mse = 0;         // mean squared error per pixel of the clamped reconstruction, images in [0, 1]
  double psnr = 0;        // 10 log10(1 / mse): the PSNR of the mean MSE
  double usage = 0;       // fraction of the K codes used at least once on the set
  double perplexity = 0;  // exp(entropy) of the code frequencies on the set
};

class VqVae {
 public:
  explicit VqVae(const VqVaeConfig& config, uint64_t init_seed = 0);

  const VqVaeConfig& config() const { return config_; }
  int64_t steps_trained() const { return steps_trained_; }

  // images: float [n, C, H, W] in [0, 1], H and W multiples of the downsampling factor.
  VqTrainResult train(const at::Tensor& images, const VqTrainOptions& options, const TaskContext& ctx);
  at::Tensor encode(const at::Tensor& images, int64_t batch_size, const TaskContext& ctx);  // int32 [n, h, w]
  at::Tensor decode(const at::Tensor& tokens, int64_t batch_size, const TaskContext& ctx);  // float32 [n, C, H, W] in [0, 1]
  VqEvaluation evaluate(const at::Tensor& images, int64_t batch_size, const TaskContext& ctx);

  void save(const std::string& path);
  static std::shared_ptr<VqVae> load(const std::string& path);

  static constexpr const char* kConfigKey = "lcmd.tokenizer.config";
  static constexpr const char* kStepsKey = "lcmd.tokenizer.steps";

 private:
  at::Tensor checked_images(const at::Tensor& images, const char* what) const;
  at::Tensor checked_tokens(const at::Tensor& tokens) const;
  at::Tensor reconstruct_batch(const at::Tensor& images, at::Tensor* indices);

  VqVaeConfig config_;
  VqVaeNet net_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  int64_t steps_trained_ = 0;
  std::mutex mutex_;
};

}  // namespace lcmd
