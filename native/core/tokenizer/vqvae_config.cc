#include "core/tokenizer/vqvae_config.h"

#include "core/base/error.h"
#include "core/base/json_fields.h"

namespace lcmd {

int64_t VqVaeConfig::stages() const {
  int64_t s = 0;
  for (int64_t f = downsample; f > 1; f /= 2) ++s;
  return s;
}

void VqVaeConfig::validate() const {
  auto bad = [](const std::string& field, const std::string& expected, const std::string& got) {
    fail("E_CONFIG", "tokenizer config: " + field + " must be " + expected + ", got " + got);
  };
  if (in_channels != 1 && in_channels != 3) bad("inChannels", "1 or 3", std::to_string(in_channels));
  if (hidden_channels < 4 || hidden_channels > 1024) bad("hiddenChannels", "between 4 and 1024", std::to_string(hidden_channels));
  if (res_blocks < 0 || res_blocks > 16) bad("resBlocks", "between 0 and 16", std::to_string(res_blocks));
  if (res_channels < 1 || res_channels > 1024) bad("resChannels", "between 1 and 1024", std::to_string(res_channels));
  if (downsample != 2 && downsample != 4 && downsample != 8) bad("downsample", "2, 4 or 8", std::to_string(downsample));
  if (codebook_size < 2 || codebook_size > 65536) bad("codebookSize", "between 2 and 65536", std::to_string(codebook_size));
  if (code_dim < 1 || code_dim > 1024) bad("codeDim", "between 1 and 1024", std::to_string(code_dim));
  if (!(ema_decay > 0 && ema_decay < 1)) bad("emaDecay", "in (0, 1)", std::to_string(ema_decay));
  if (!(commitment_weight >= 0 && commitment_weight <= 100)) bad("commitmentWeight", "in [0, 100]", std::to_string(commitment_weight));
  if (dead_code_steps < 0) bad("deadCodeSteps", "0 (never restart) or a positive number of steps", std::to_string(dead_code_steps));
}

nlohmann::json VqVaeConfig::to_json() const {
  return {{"inChannels", in_channels},     {"hiddenChannels", hidden_channels},   {"resBlocks", res_blocks},
          {"resChannels", res_channels},   {"downsample", downsample},            {"codebookSize", codebook_size},
          {"codeDim", code_dim},           {"emaDecay", ema_decay},               {"commitmentWeight", commitment_weight},
          {"deadCodeSteps", dead_code_steps}};
}

VqVaeConfig VqVaeConfig::from_json(const nlohmann::json& j) {
  VqVaeConfig c;
  JsonFields f(j, "tokenizer config");
  f.read("inChannels", c.in_channels);
  f.read("hiddenChannels", c.hidden_channels);
  f.read("resBlocks", c.res_blocks);
  f.read("resChannels", c.res_channels);
  f.read("downsample", c.downsample);
  f.read("codebookSize", c.codebook_size);
  f.read("codeDim", c.code_dim);
  f.read("emaDecay", c.ema_decay);
  f.read("commitmentWeight", c.commitment_weight);
  f.read("deadCodeSteps", c.dead_code_steps);
  f.reject_unknown();
  c.validate();
  return c;
}

}  // namespace lcmd
