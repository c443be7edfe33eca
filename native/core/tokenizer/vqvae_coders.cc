#include "core/tokenizer/vqvae_coders.h"

#include <algorithm>

namespace lcmd {

namespace nn = torch::nn;

int64_t vq_stage_channels(const VqVaeConfig& config, int64_t stage) {
  int64_t shift = config.stages() - 1 - stage;
  return std::max<int64_t>(8, config.hidden_channels >> shift);
}

VqResidualBlockImpl::VqResidualBlockImpl(int64_t channels, int64_t bottleneck) {
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(channels, bottleneck, 3).padding(1)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(bottleneck, channels, 1)));
}

at::Tensor VqResidualBlockImpl::forward(const at::Tensor& x) { return x + conv2(torch::relu(conv1(torch::relu(x)))); }

VqEncoderImpl::VqEncoderImpl(const VqVaeConfig& config) {
  down = register_module("down", nn::ModuleList());
  int64_t channels = config.in_channels;
  for (int64_t s = 0; s < config.stages(); ++s) {
    int64_t next = vq_stage_channels(config, s);
    down->push_back(nn::Conv2d(nn::Conv2dOptions(channels, next, 4).stride(2).padding(1)));
    channels = next;
  }
  mix = register_module("mix", nn::Conv2d(nn::Conv2dOptions(channels, config.hidden_channels, 3).padding(1)));
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t b = 0; b < config.res_blocks; ++b) blocks->push_back(VqResidualBlock(config.hidden_channels, config.res_channels));
  out = register_module("out", nn::Conv2d(nn::Conv2dOptions(config.hidden_channels, config.code_dim, 1)));
}

at::Tensor VqEncoderImpl::forward(const at::Tensor& images) {
  at::Tensor h = images - 0.5;  // centre the [0, 1] pixels
  for (const auto& layer : *down) h = torch::relu(layer->as<nn::Conv2d>()->forward(h));
  h = mix(h);
  for (const auto& block : *blocks) h = block->as<VqResidualBlock>()->forward(h);
  return out(torch::relu(h));
}

VqDecoderImpl::VqDecoderImpl(const VqVaeConfig& config) {
  in = register_module("in", nn::Conv2d(nn::Conv2dOptions(config.code_dim, config.hidden_channels, 3).padding(1)));
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t b = 0; b < config.res_blocks; ++b) blocks->push_back(VqResidualBlock(config.hidden_channels, config.res_channels));
  up = register_module("up", nn::ModuleList());
  int64_t channels = config.hidden_channels;
  for (int64_t s = config.stages() - 1; s >= 0; --s) {
    int64_t next = s == 0 ? config.in_channels : vq_stage_channels(config, s - 1);
    up->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(channels, next, 4).stride(2).padding(1)));
    channels = next;
  }
}

at::Tensor VqDecoderImpl::forward(const at::Tensor& codes) {
  at::Tensor h = in(codes);
  for (const auto& block : *blocks) h = block->as<VqResidualBlock>()->forward(h);
  h = torch::relu(h);
  for (size_t i = 0; i < up->size(); ++i) {
    h = (*up)[i]->as<nn::ConvTranspose2d>()->forward(h);
    if (i + 1 < up->size()) h = torch::relu(h);
  }
  return h + 0.5;
}

}  // namespace lcmd
