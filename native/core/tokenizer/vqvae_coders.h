// The VQ-VAE's convolutional encoder and decoder. Each halving of the resolution is a 4x4 stride-2 convolution
// (the decoder mirrors it with 4x4 stride-2 transposed convolutions); residual blocks work at the token
// resolution. Channels double towards the token grid: the stage at the token grid has hidden_channels.
#pragma once
#include <torch/torch.h>

#include "core/tokenizer/vqvae_config.h"

namespace lcmd {

// x + conv1x1(relu(conv3x3(relu(x)))), as in the VQ-VAE paper.
struct VqResidualBlockImpl : torch::nn::Module {
  VqResidualBlockImpl(int64_t channels, int64_t bottleneck);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(VqResidualBlock);

// images [n, C, H, W] in [0, 1] -> encodings [n, code_dim, H / f, W / f]
struct VqEncoderImpl : torch::nn::Module {
  explicit VqEncoderImpl(const VqVaeConfig& config);
  at::Tensor forward(const at::Tensor& images);
  torch::nn::ModuleList down{nullptr};
  torch::nn::Conv2d mix{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::Conv2d out{nullptr};
};
TORCH_MODULE(VqEncoder);

// codes [n, code_dim, h, w] -> images [n, C, h * f, w * f] (unclamped; the model clamps what it returns)
struct VqDecoderImpl : torch::nn::Module {
  explicit VqDecoderImpl(const VqVaeConfig& config);
  at::Tensor forward(const at::Tensor& codes);
  torch::nn::Conv2d in{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::ModuleList up{nullptr};
};
TORCH_MODULE(VqDecoder);

// Channels after encoder stage i (i = 0 at full resolution): hidden / 2^(stages - 1 - i), at least 8.
int64_t vq_stage_channels(const VqVaeConfig& config, int64_t stage);

}  // namespace lcmd
