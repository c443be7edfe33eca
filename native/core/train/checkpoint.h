// Training checkpoints: one .safetensors file with the model, EMA, teacher and optimizer tensors, the RNG state,
// and JSON metadata (configs, counters, and whatever the caller adds, e.g. the data position).
//
// Tensor names (all float32 unless noted):
//   model.<param>                 the online (student) weights, e.g. model.blocks.0.attn.qkv.weight
//   ema.<param>                   the sampling EMA (what `lcmd sample` uses by default)
//   teacher.<param>               the CM teacher EMA (teacher mode "ema" only)
//   optim.exp_avg.<param>         AdamW first moment, optim.exp_avg_sq.<param> second moment
//   rng.cpu                       uint8, libtorch's default CPU generator state (attention dropout)
// Metadata: lcmd.format ("lcmd-checkpoint/1"), lcmd.model and lcmd.train (JSON configs), lcmd.state
// (JSON: steps, skippedSteps, optimizerSteps), plus caller entries.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "core/model/lcmd_model.h"
#include "core/train/trainer.h"

namespace lcmd {

constexpr const char* kCheckpointFormat = "lcmd-checkpoint/1";

void save_checkpoint(const Trainer& trainer, const std::string& path, const std::map<std::string, std::string>& extra_metadata);

// Resumes a run. train_overrides (a JSON object, may be empty) replaces fields of the stored train config, e.g. the
// device; the model config always comes from the file.
std::unique_ptr<Trainer> load_checkpoint(const std::string& path, const std::string& train_overrides_json,
                                         std::map<std::string, std::string>* metadata_out);

// Loads only the weights for sampling or evaluation: the EMA ("ema.") or the online ("model.") weights; with
// time_warp_out, also the learned time warp's statistics ("time_warp.stats", CPU float32; undefined when absent).
LcmdModel load_model_weights(const std::string& path, bool use_ema, const std::string& device,
                             std::map<std::string, std::string>* metadata_out, at::Tensor* time_warp_out = nullptr);

}  // namespace lcmd
