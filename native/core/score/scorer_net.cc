#include "core/score/scorer_net.h"

#include "core/base/error.h"
#include "core/base/json_fields.h"

namespace lcmd {

void ScorerConfig::validate() const {
  LCMD_CHECK(channels >= 1 && channels <= 4, "E_CONFIG", "scorer channels must be 1 to 4, got " + std::to_string(channels));
  LCMD_CHECK(height >= 4 && width >= 4 && height <= 4096 && width <= 4096, "E_CONFIG",
             "scorer images must be 4 to 4096 pixels a side, got " + std::to_string(height) + "x" + std::to_string(width));
  LCMD_CHECK(num_classes >= 2 && num_classes <= 100000, "E_CONFIG", "a scorer needs 2 to 100000 classes, got " + std::to_string(num_classes));
  LCMD_CHECK(features >= 2 && features <= 4096, "E_CONFIG", "scorer features must be 2 to 4096, got " + std::to_string(features));
}

nlohmann::json ScorerConfig::to_json() const {
  return {{"channels", channels}, {"height", height}, {"width", width}, {"numClasses", num_classes}, {"features", features}};
}

ScorerConfig ScorerConfig::from_json(const nlohmann::json& j) {
  ScorerConfig c;
  JsonFields f(j, "scorer");
  f.read("channels", c.channels);
  f.read("height", c.height);
  f.read("width", c.width);
  f.read("numClasses", c.num_classes);
  f.read("features", c.features);
  f.reject_unknown();
  c.validate();
  return c;
}

ScorerNetImpl::ScorerNetImpl(const ScorerConfig& c) {
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(c.channels, 32, 3).padding(1)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)));
  fc = register_module("fc", torch::nn::Linear(64 * 16, c.features));
  head = register_module("head", torch::nn::Linear(c.features, c.num_classes));
  dropout = register_module("dropout", torch::nn::Dropout(0.25));
}

at::Tensor ScorerNetImpl::features(const at::Tensor& images) {
  auto h = torch::max_pool2d(torch::relu(conv1(images)), 2);
  h = torch::max_pool2d(torch::relu(conv2(h)), 2);
  h = torch::adaptive_avg_pool2d(h, {4, 4}).flatten(1);
  return torch::relu(fc(h));
}

at::Tensor ScorerNetImpl::classify(const at::Tensor& features) { return head(dropout(features)); }

}  // namespace lcmd
