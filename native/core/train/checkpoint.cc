#include "core/train/checkpoint.h"

#include "core/train/checkpoint_tensor.h"

#include <nlohmann/json.hpp>

#include "core/base/device.h"
#include "core/base/error.h"
#include "core/formats/safetensors.h"
#include "core/train/time_warp.h"

namespace lcmd {

namespace {

nlohmann::json parse_metadata_json(const std::map<std::string, std::string>& metadata, const std::string& key, const std::string& path) {
  auto it = metadata.find(key);
  LCMD_CHECK(it != metadata.end(), "E_CHECKPOINT", path + " is not an lcmd training checkpoint: its metadata lacks '" + key + "'");
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception&) {
    fail("E_CHECKPOINT", path + ": metadata entry '" + key + "' is not valid JSON");
  }
}

void check_format(const std::map<std::string, std::string>& metadata, const std::string& path) {
  auto it = metadata.find("lcmd.format");
  LCMD_CHECK(it != metadata.end(), "E_CHECKPOINT", path + " is not an lcmd checkpoint (no lcmd.format metadata)");
  LCMD_CHECK(it->second == kCheckpointFormat, "E_CHECKPOINT",
             path + " has checkpoint format '" + it->second + "', this lcmd reads '" + kCheckpointFormat + "'");
}

ModelConfig model_config_of(const std::map<std::string, std::string>& metadata, const std::string& path) {
  ModelConfig config;
  try {
    config = parse_metadata_json(metadata, "lcmd.model", path).get<ModelConfig>();
    config.validate();
  } catch (const Error& e) {
    fail("E_CHECKPOINT", path + ": invalid model config: " + e.what());
  }
  return config;
}

}  // namespace

void save_checkpoint(const Trainer& trainer, const std::string& path, const std::map<std::string, std::string>& extra_metadata) {
  auto metadata = extra_metadata;
  metadata["lcmd.format"] = kCheckpointFormat;
  metadata["lcmd.model"] = nlohmann::json(trainer.model_config()).dump();
  metadata["lcmd.train"] = nlohmann::json(trainer.train_config()).dump();
  metadata["lcmd.state"] = nlohmann::json{{"steps", trainer.steps()},
                                          {"skippedSteps", trainer.skipped_steps()},
                                          {"optimizerSteps", trainer.optimizer_steps()}}
                               .dump();
  save_safetensors(path, trainer.state_tensors(), metadata);
}

std::unique_ptr<Trainer> load_checkpoint(const std::string& path, const std::string& train_overrides_json,
                                         std::map<std::string, std::string>* metadata_out) {
  auto file = load_safetensors(path);
  check_format(file.metadata, path);
  auto model_config = model_config_of(file.metadata, path);
  auto train_json = parse_metadata_json(file.metadata, "lcmd.train", path);
  // A bad stored config is a damaged checkpoint (E_CHECKPOINT); a bad override is the caller's config error (E_CONFIG).
  TrainConfig train_config;
  try {
    train_config = train_json.get<TrainConfig>();
    train_config.validate();
  } catch (const Error& e) {
    fail("E_CHECKPOINT", path + ": invalid training config: " + e.what());
  }
  if (!train_overrides_json.empty()) {
    nlohmann::json overrides;
    try {
      overrides = nlohmann::json::parse(train_overrides_json);
    } catch (const nlohmann::json::exception& e) {
      fail("E_CONFIG", std::string("train overrides are not valid JSON: ") + e.what());
    }
    LCMD_CHECK(overrides.is_object(), "E_CONFIG", "train overrides must be a JSON object");
    train_json.update(overrides);
    train_config = train_json.get<TrainConfig>();
  }
  auto state = parse_metadata_json(file.metadata, "lcmd.state", path);
  int64_t steps = 0, skipped = 0, optimizer_steps = 0;
  try {
    steps = state.at("steps").get<int64_t>();
    skipped = state.at("skippedSteps").get<int64_t>();
    optimizer_steps = state.at("optimizerSteps").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    fail("E_CHECKPOINT", path + ": lcmd.state must hold integer steps, skippedSteps and optimizerSteps");
  }
  LCMD_CHECK(steps >= 0 && skipped >= 0 && optimizer_steps >= 0 && skipped <= steps, "E_CHECKPOINT", path + ": inconsistent step counters");
  auto trainer = std::make_unique<Trainer>(model_config, train_config);
  trainer->load_state(file.tensors, steps, skipped, optimizer_steps);
  if (metadata_out) *metadata_out = file.metadata;
  return trainer;
}

LcmdModel load_model_weights(const std::string& path, bool use_ema, const std::string& device,
                             std::map<std::string, std::string>* metadata_out, at::Tensor* time_warp_out) {
  auto file = load_safetensors(path);
  check_format(file.metadata, path);
  LcmdModel model(model_config_of(file.metadata, path));
  const std::string prefix = use_ema ? "ema." : "model.";
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    item.value().copy_(checkpoint_tensor(file.tensors, prefix + item.key(), item.value(), path));
  }
  model->to(parse_device(device));
  model->eval();
  if (metadata_out) *metadata_out = file.metadata;
  if (time_warp_out) {
    auto stats = file.tensors.find("time_warp.stats");
    *time_warp_out = stats == file.tensors.end()
                         ? at::Tensor()
                         : checkpoint_tensor(file.tensors, "time_warp.stats", torch::zeros({2, TimeWarp::kBins}), path).to(at::kFloat).clone();
  }
  return model;
}

}  // namespace lcmd
