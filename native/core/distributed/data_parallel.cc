#include "core/distributed/data_parallel.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/base/error.h"

namespace lcmd {

namespace {

// FNV-1a: a hash that is the same in every process and build (std::hash is not).
int64_t fingerprint(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return int64_t(h >> 1);  // non-negative, so a sum over ranks where only one row is set stays exact
}

// What every rank must agree on before it can take rank 0's state; one row per rank in the all-gathered table.
struct Agreement {
  static constexpr int kFields = 6;
  static constexpr const char* kNames[kFields] = {"step count", "skipped-step count", "optimizer step count", "model config",
                                                  "train config", "tensor names and shapes"};
  static constexpr bool kShowValues[kFields] = {true, true, true, false, false, false};
};

std::vector<int64_t> agreement_row(const Trainer& trainer, int64_t bucket_bytes) {
  nlohmann::json train = trainer.train_config();
  train.erase("device");  // each rank has its own GPU
  std::string layout = std::to_string(bucket_bytes);
  for (const auto& [name, tensor] : trainer.state_tensors())
    if (name != "rng.cpu") layout += ";" + name + c10::str(tensor.sizes()) + c10::toString(tensor.scalar_type());
  return {trainer.steps(), trainer.skipped_steps(), trainer.optimizer_steps(), fingerprint(nlohmann::json(trainer.model_config()).dump()),
          fingerprint(train.dump()), fingerprint(layout)};
}

// Every rank learns every rank's row (an all-gather built from an all-reduce of a table where each rank fills its
// own row), so all ranks reach the same verdict and fail together instead of some waiting for the others.
void check_agreement(const Trainer& trainer, ProcessGroup& group, int64_t bucket_bytes) {
  const int64_t world = group.world_size(), fields = Agreement::kFields;
  auto table = torch::zeros({world, fields}, torch::TensorOptions().dtype(at::kLong).device(group.device()));
  auto mine = agreement_row(trainer, bucket_bytes);
  table[group.rank()].copy_(torch::tensor(mine, at::kLong));
  group.allreduce_sum({table}, "the start-up check that all ranks have the same configs and state");
  auto rows = table.cpu();
  auto value = [&](int64_t r, int64_t f) { return rows[r][f].item<int64_t>(); };
  std::string problems;
  for (int64_t r = 1; r < world; ++r) {
    std::string differs;
    for (int64_t f = 0; f < fields; ++f) {
      if (value(r, f) == value(0, f)) continue;
      differs += std::string(differs.empty() ? "" : ", ") + Agreement::kNames[f];
      if (Agreement::kShowValues[f]) differs += " (" + std::to_string(value(r, f)) + " vs " + std::to_string(value(0, f)) + ")";
    }
    if (!differs.empty()) problems += "; rank " + std::to_string(r) + " differs from rank 0 in its " + differs;
  }
  LCMD_CHECK(problems.empty(), "E_DISTRIBUTED",
             "the ranks cannot train together" + problems +
                 ". Start every rank with the same config, and resume every rank from the same checkpoint.");
}

// Attention dropout draws from libtorch's default generator, seeded identically on every rank by the Trainer; left
// alone, local example i would get the same dropout mask on every rank. Rank 0 keeps its (checkpointed) state.
void decorrelate_dropout(const Trainer& trainer, int64_t rank) {
  if (rank == 0) return;
  uint64_t z = trainer.train_config().seed + 0x9E3779B97F4A7C15ull * uint64_t(rank + 1) + uint64_t(trainer.steps());
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  torch::manual_seed(z ^ (z >> 31));
}

}  // namespace

void attach_process_group(Trainer& trainer, std::shared_ptr<ProcessGroup> group, int64_t bucket_bytes) {
  LCMD_CHECK(group, "E_TYPE", "expected a process group");
  LCMD_CHECK(bucket_bytes > 0, "E_RANGE", "the bucket size must be positive, got " + std::to_string(bucket_bytes) + " bytes");
  trainer.set_gradient_sync({});
  check_agreement(trainer, *group, bucket_bytes);

  // Rank 0's weights, EMAs, teacher and optimizer moments everywhere (the entries alias the live tensors).
  std::vector<at::Tensor> state;
  for (const auto& [name, tensor] : trainer.state_tensors())
    if (name != "rng.cpu") state.push_back(tensor);
  broadcast_bucketed(*group, state, 0, bucket_bytes, "the broadcast of rank 0's weights and optimizer state");
  decorrelate_dropout(trainer, group->rank());

  Trainer* owner = &trainer;  // the sync lives inside the trainer, so the trainer outlives it
  auto what = [owner] { return "the gradient all-reduce of step " + std::to_string(owner->steps() + 1); };
  GradientSync sync;
  const auto params = trainer.trainable_parameters();
  if (GradientBuckets::applies(params, group->device())) {
    auto buckets = std::make_shared<const GradientBuckets>(params, group->device(), bucket_bytes);
    sync.prepare = [buckets](std::vector<at::Tensor>& p) { buckets->attach(p); };
    sync.reduce = [buckets, group, bucket_bytes, what](std::vector<at::Tensor>& grads) { buckets->allreduce_mean(*group, grads, bucket_bytes, what()); };
  } else {
    // parameters elsewhere than the collectives (a CUDA model with Gloo): copied into buckets on the group's device
    sync.reduce = [group, bucket_bytes, what](std::vector<at::Tensor>& grads) {
      allreduce_mean_bucketed(*group, grads, bucket_bytes, what(), Wait::Stream);
    };
  }
  trainer.set_gradient_sync(std::move(sync));
}

void detach_process_group(Trainer& trainer) { trainer.set_gradient_sync({}); }

}  // namespace lcmd
