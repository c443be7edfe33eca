// The VQ-VAE tokenizer's architecture and codebook settings, with strict JSON reading (unknown keys and bad
// values are E_CONFIG). Stored as JSON in a tokenizer checkpoint's metadata under "lcmd.tokenizer.config".
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace lcmd {

struct VqVaeConfig {
  int64_t in_channels = 1;        // 1 (grayscale) or 3 (RGB)
  int64_t hidden_channels = 64;   // channels of the encoder / decoder at the token resolution
  int64_t res_blocks = 2;         // residual blocks at the token resolution, in the encoder and in the decoder
  int64_t res_channels = 32;      // the bottleneck width inside a residual block
  int64_t downsample = 4;         // image side / token-grid side: 2, 4 or 8
  int64_t codebook_size = 256;    // K
  int64_t code_dim = 64;          // the width of a code vector
  double ema_decay = 0.99;        // codebook EMA rate (k-means-like updates)
  double commitment_weight = 0.25;
  int64_t dead_code_steps = 10;   // a code unused for this many training steps is restarted from an encoder output

  int64_t stages() const;  // log2(downsample)
  void validate() const;   // E_CONFIG with the offending field
  nlohmann::json to_json() const;
  static VqVaeConfig from_json(const nlohmann::json& j);  // missing keys keep their defaults
};

}  // namespace lcmd
