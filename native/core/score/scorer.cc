#include "core/score/scorer.h"

#include <chrono>

#include "core/base/error.h"
#include "core/formats/safetensors.h"

namespace lcmd {

Scorer::Scorer(const ScorerConfig& config, uint64_t init_seed) : config_(config) {
  config_.validate();
  torch::manual_seed(init_seed);
  net_ = ScorerNet(config_);
  net_->eval();
}

at::Tensor Scorer::checked_images(const at::Tensor& images) const {
  const auto& c = config_;
  LCMD_CHECK(images.dim() == 4 && images.size(1) == c.channels && images.size(2) == c.height && images.size(3) == c.width, "E_SHAPE",
             "the scorer takes images of shape [n, " + std::to_string(c.channels) + ", " + std::to_string(c.height) + ", " +
                 std::to_string(c.width) + "], got " + c10::str(images.sizes()));
  LCMD_CHECK(images.size(0) > 0, "E_SHAPE", "no images to score");
  LCMD_CHECK(images.is_floating_point(), "E_DTYPE", "images must be floating point in [0, 1]");
  return images.to(at::kFloat);
}

ScorerTrainResult Scorer::train(const at::Tensor& images_in, const at::Tensor& labels_in, const ScorerTrainOptions& options,
                                const TaskContext& ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto images = checked_images(images_in);
  LCMD_CHECK(labels_in.dim() == 1 && labels_in.size(0) == images.size(0), "E_SHAPE",
             "expected one label per image ([" + std::to_string(images.size(0)) + "]), got " + c10::str(labels_in.sizes()));
  auto labels = labels_in.to(at::kLong);
  LCMD_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < config_.num_classes, "E_RANGE",
             "labels must be in [0, " + std::to_string(config_.num_classes) + ")");
  LCMD_CHECK(options.steps >= 1 && options.batch_size >= 1 && options.lr > 0, "E_RANGE", "scorer steps, batch size and lr must be positive");
  const auto started = std::chrono::steady_clock::now();
  torch::optim::Adam optimizer(net_->parameters(), torch::optim::AdamOptions(options.lr));
  auto generator = at::detail::createCPUGenerator(options.seed);
  const int64_t n = images.size(0), batch = std::min(options.batch_size, n);
  at::Tensor order = torch::randperm(n, generator, at::TensorOptions().dtype(at::kLong));
  int64_t cursor = 0;
  double recent = 0;
  int64_t recent_count = 0;
  net_->train();
  for (int64_t step = 0; step < options.steps; ++step) {
    ctx.throw_if_cancelled();
    if (cursor + batch > n) {
      order = torch::randperm(n, generator, at::TensorOptions().dtype(at::kLong));
      cursor = 0;
    }
    auto index = order.narrow(0, cursor, batch);
    cursor += batch;
    auto loss = torch::nn::functional::cross_entropy(net_->classify(net_->features(images.index_select(0, index))), labels.index_select(0, index));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step >= options.steps - 50) {
      recent += loss.item<double>();
      ++recent_count;
    }
    if ((step + 1) % 25 == 0 || step + 1 == options.steps)
      ctx.report("scorer", {{"step", double(step + 1)}, {"steps", double(options.steps)}, {"loss", loss.item<double>()}});
  }
  net_->eval();
  ScorerTrainResult r;
  r.steps = options.steps;
  r.loss = recent / double(std::max<int64_t>(1, recent_count));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

ScorerOutputs Scorer::embed(const at::Tensor& images_in, int64_t batch_size, const TaskContext& ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto images = checked_images(images_in);
  LCMD_CHECK(batch_size >= 1, "E_RANGE", "the batch size must be positive");
  torch::NoGradGuard no_grad;
  net_->eval();
  std::vector<at::Tensor> features, classes;
  for (int64_t first = 0; first < images.size(0); first += batch_size) {
    ctx.throw_if_cancelled();
    auto f = net_->features(images.narrow(0, first, std::min(batch_size, images.size(0) - first)));
    features.push_back(f);
    classes.push_back(net_->classify(f).argmax(-1));
  }
  return {torch::cat(features), torch::cat(classes)};
}

void Scorer::save(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : net_->named_parameters()) tensors.emplace_back(p.key(), p.value());
  save_safetensors(path, tensors, {{kConfigKey, config_.to_json().dump()}, {"lcmd.format", "scorer"}});
}

std::shared_ptr<Scorer> Scorer::load(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  auto found = file.metadata.find(kConfigKey);
  LCMD_CHECK(found != file.metadata.end(), "E_CHECKPOINT",
             "'" + path + "' is not an lcmd scorer: its metadata has no \"" + kConfigKey + "\" (make one with `lcmd score train`)");
  nlohmann::json json = nlohmann::json::parse(found->second, nullptr, /*allow_exceptions=*/false);
  LCMD_CHECK(!json.is_discarded(), "E_CHECKPOINT", "the scorer config in '" + path + "' is not valid JSON");
  ScorerConfig config;
  try {
    config = ScorerConfig::from_json(json);
  } catch (const Error& e) {
    fail("E_CHECKPOINT", "the scorer config in '" + path + "' is invalid: " + e.what());
  }
  auto scorer = std::make_shared<Scorer>(config);
  torch::NoGradGuard no_grad;
  for (auto& p : scorer->net_->named_parameters()) {
    auto it = file.tensors.find(p.key());
    LCMD_CHECK(it != file.tensors.end(), "E_CHECKPOINT", "scorer '" + path + "' lacks the tensor '" + p.key() + "'");
    LCMD_CHECK(it->second.sizes() == p.value().sizes() && it->second.scalar_type() == p.value().scalar_type(), "E_CHECKPOINT",
               "tensor '" + p.key() + "' in '" + path + "' has the wrong shape or dtype for its config");
    LCMD_CHECK(torch::isfinite(it->second).all().item<bool>(), "E_CHECKPOINT", "tensor '" + p.key() + "' in '" + path + "' holds non-finite values");
    p.value().copy_(it->second);
  }
  return scorer;
}

}  // namespace lcmd
