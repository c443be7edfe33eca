// Everything about how a VQ-LCMD model is trained (docs/method.md sections 6, 7 and 10), and its JSON form.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace lcmd {

struct TrainConfig {
  // loss weights: L = L_recon + lambda_cm L_CM + lambda_diff L_diff
  double lambda_cm = 1.0;
  double lambda_diff = 0.005;
  // L_CE: cross-entropy -log p(x | z_t) at the sampled t (CDCD's training loss; off in the paper's configuration)
  double lambda_ce = 0.0;
  // weight of L_recon at t = 0; 0 skips the t = 0 student forward altogether
  double lambda_recon = 1.0;
  // self-conditioning models: the share of examples whose input holds a first, gradient-free prediction
  double self_cond_rate = 0.5;
  // MaskGIT: label smoothing of the cross-entropy on masked tokens
  double label_smoothing = 0.0;
  // optional linear ramps of the weights: from the value above at step 0 to *_final at weight_ramp_steps
  double lambda_cm_final = -1;    // < 0: no ramp
  double lambda_diff_final = -1;  // < 0: no ramp
  int64_t weight_ramp_steps = 0;
  // "simple": L_diff as in docs/method.md section 6.5; "vlb": CSDM, minimise the VLB (importance-sampled weighting, no CM term)
  std::string objective = "lcmd";
  // how t is drawn: "uniform", or "learned": density proportional to the slope of the CE curve (core/train/time_warp.h)
  std::string time_warp = "uniform";
  // the uniforms behind t: "iid", or "low-discrepancy" (one per step, spread over the batch; core/noise/training_noise.h)
  std::string time_sampling = "iid";
  // random token dropping (docs/method.md section 6.1)
  std::string drop_strategy = "bernoulli";  // bernoulli | count | random-ratio | linear-t
  double drop_rate = 0.2;                   // r
  std::string drop_placement = "before-noise";  // before-noise | after-noise
  double class_dropout = 0.1;
  // consistency matching (docs/method.md section 6.6)
  std::string cm_target = "teacher";     // teacher (DDIM step with the EMA teacher) | data (same eps, data target)
  std::string kl_direction = "teacher-student";  // KL(q || p) | "student-teacher": KL(p || q)
  std::string teacher = "ema";  // ema: own EMA at teacher_decay | sampling: share the sampling EMA | online: stop-grad student
  double teacher_decay = 0.999;
  bool teacher_warmup = true;   // apply mu_n = min(mu, (1+n)/(10+n)) to the teacher too
  bool teacher_dropout = false; // false: the teacher runs in eval mode
  // sampling EMA
  double ema_decay = 0.9999;
  // optimisation
  double lr = 3e-4;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double adam_eps = 1e-8;
  double weight_decay = 0.01;  // never on embeddings, norms or biases
  int64_t warmup_steps = 500;
  std::string lr_schedule = "constant";  // constant | cosine
  int64_t total_steps = 0;               // for cosine
  double min_lr_ratio = 0.1;
  double grad_clip = 1.0;  // <= 0: off
  // runtime
  std::string device = "cpu";
  std::string precision = "fp32";  // fp32 | bf16 (CUDA autocast)
  uint64_t seed = 0;

  void validate() const;
};

void to_json(nlohmann::json& j, const TrainConfig& c);
void from_json(const nlohmann::json& j, TrainConfig& c);

}  // namespace lcmd
