// The architecture of a VQ-LCMD denoiser (docs/method.md sections 2, 3 and 5) and its JSON form (named presets: lib/presets.ts).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace lcmd {

struct ModelConfig {
  // "lcmd": continuous diffusion over learned embeddings; "maskgit": the masked-token baseline on the same body
  // (the input is E[x] with the [mask] vector at masked positions, and no noise level)
  std::string method = "lcmd";
  // data
  int64_t vocab_size = 1024;  // K
  int64_t height = 16;        // token grid H
  int64_t width = 16;         // token grid W; N = H * W
  int64_t num_classes = 0;    // C; 0 = unconditional. Class id C is the null class used for guidance.
  // embeddings
  int64_t embed_dim = 256;          // d
  double embed_init_std = 1.0;      // sigma_e (open choice)
  bool l2_normalize_embeddings = false;  // ablation: rows of E normalised (times sqrt(d), so norms match N(0, I) scale)
  bool freeze_embeddings = false;        // CSDM-dagger: E from a codebook, frozen
  // transformer
  int64_t layers = 15;
  int64_t heads = 8;
  int64_t hidden = 512;
  int64_t mlp_ratio = 4;
  int64_t cond_dim = 256;  // width of the conditioning vector y (noise level MLP + class embedding)
  double attn_dropout = 0.1;
  std::string time_input = "logsnr";  // "logsnr" or "t": what the sinusoidal noise-level embedding sees
  bool exact_likelihood_logits = false;  // add the Gaussian log-likelihood of z_t under each token to the logits
  // the input also holds each position's token posterior under the exact Gaussian likelihood (uniform prior), fed
  // through a learned [K, hidden] table: a noisy token arrives as a soft token, as a MaskGIT token arrives as a hard one
  bool posterior_input = false;
  bool self_condition = false;  // the input also holds the previous prediction e_hat (Analog Bits' self-conditioning)
  // schedule (the sampler needs it, so it belongs to the model)
  double shift = 0.1;        // s of the shifted cosine schedule (open choice)
  double max_logsnr = 15.0;  // clip of the unshifted log-SNR

  int64_t num_tokens() const { return height * width; }
  // The parameter count the config implies (before building it), in double so absurd sizes do not overflow.
  double estimated_parameters() const;
  // Checks every key's range, and that `copies` copies of the weights (4 bytes each) fit in this machine's memory.
  void validate(int copies = 1) const;
};

void to_json(nlohmann::json& j, const ModelConfig& c);
// Strict: unknown keys and wrong types are E_CONFIG errors naming the key.
void from_json(const nlohmann::json& j, ModelConfig& c);

}  // namespace lcmd
