// The sample-quality scorer: a ScorerNet trained once on labelled images, then used to embed and classify generated
// and real images. Saved as .safetensors with the config under "lcmd.scorer.config" (format "scorer").
// One call at a time runs on a Scorer (an internal mutex serialises them).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>

#include "core/base/task_context.h"
#include "core/score/scorer_net.h"

namespace lcmd {

struct ScorerTrainOptions {
  int64_t steps = 1500;
  int64_t batch_size = 128;
  double lr = 1e-3;
  uint64_t seed = 0;
};

struct ScorerTrainResult {
  int64_t steps = 0;
  double loss = 0;      // mean cross-entropy of the last 50 steps
  double seconds = 0;
};

struct ScorerOutputs {
  at::Tensor features;  // [n, F] float32
  at::Tensor classes;   // [n] int64, the argmax class
};

class Scorer {
 public:
  explicit Scorer(const ScorerConfig& config, uint64_t init_seed = 0);

  const ScorerConfig& config() const { return config_; }

  // images float [n, C, H, W] in [0, 1]; labels int [n] in [0, classes).
  ScorerTrainResult train(const at::Tensor& images, const at::Tensor& labels, const ScorerTrainOptions& options, const TaskContext& ctx);
  ScorerOutputs embed(const at::Tensor& images, int64_t batch_size, const TaskContext& ctx);

  void save(const std::string& path);
  static std::shared_ptr<Scorer> load(const std::string& path);

  static constexpr const char* kConfigKey = "lcmd.scorer.config";

 private:
  at::Tensor checked_images(const at::Tensor& images) const;

  ScorerConfig config_;
  ScorerNet net_{nullptr};
  std::mutex mutex_;
};

}  // namespace lcmd
