// The sample-quality scorer's network: a small CNN classifier of images. Its penultimate layer (128 features after
// a ReLU) is the feature space of the Frechet distance and of precision / recall / density / coverage; its
// class prediction gives class agreement. This is not Inception: numbers are comparable only between runs scored
// with the same scorer file.
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>

namespace lcmd {

struct ScorerConfig {
  int64_t channels = 1;      // image channels
  int64_t height = 28;
  int64_t width = 28;
  int64_t num_classes = 10;
  int64_t features = 128;    // width of the feature layer

  void validate() const;
  nlohmann::json to_json() const;
  static ScorerConfig from_json(const nlohmann::json& j);
};

// conv3x3(C -> 32) ReLU maxpool2, conv3x3(32 -> 64) ReLU maxpool2, adaptive average pool to 4x4, linear -> features,
// ReLU, dropout 0.25 (training only), linear -> classes.
struct ScorerNetImpl : torch::nn::Module {
  explicit ScorerNetImpl(const ScorerConfig& config);
  // images [B, C, H, W] in [0, 1] -> features [B, F]
  at::Tensor features(const at::Tensor& images);
  at::Tensor classify(const at::Tensor& features);  // -> logits [B, classes]

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc{nullptr}, head{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(ScorerNet);

}  // namespace lcmd
