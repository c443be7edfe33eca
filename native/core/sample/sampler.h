// The sampling loop of docs/method.md section 8, over any Denoiser (the trained model, or the exact oracle in tests).
//
// Time grid t_j, j = T .. 0 (t_T = 1, t_0 = 0). Start from z_1 ~ N(0, I). For j = T .. 1: (infilling: refresh the
// known positions of z), compute the guided p(. | z_{t_j}, t_j), e_hat = p E, and move to t_{j-1} with the ancestral
// or the DDIM rule. Then (infilling: refresh) predict once more at t_0 = 0 and output the argmax of p (or a draw).
//
// Infill resampling (R > 1, only with known tokens; RePaint's jumps of one step): each step is done R times; between
// two tries, z_{t_{j-1}} goes back to t_j by the forward process, so the unknown part can agree with the known one.
//
// Network evaluations: exactly T R + 1 per sample (T steps of R tries, R = 1 by default, + the final prediction at
// t = 0), T R for the commit rule (every token is committed by its last step) and T for MaskGIT. Each evaluation is
// one batched forward of B rows, or of 2B rows with guidance w > 0 (both halves together).
#pragma once
#include <torch/torch.h>

#include "core/sample/denoiser.h"
#include "core/sample/sampler_final.h"
#include "core/sample/sampler_infill.h"
#include "core/sample/sampler_time_grid.h"
#include "core/base/task_context.h"

namespace lcmd {

// kAncestral, kDdim: docs/method.md "Sampling". kConsistency: draw tokens x ~ p, then z_s = alpha_s E[x] + sigma_s eps
// (multistep consistency sampling: every step restarts from a clean guess). kCommit: DDIM in which positions are
// committed to a token in order of confidence, as MaskGIT unmasks them (sampler_commit.h). kMaskgit: confidence-based
// unmasking, for models of method "maskgit" only (maskgit_sampler.h).
enum class StepRule { kAncestral, kDdim, kConsistency, kCommit, kMaskgit };

struct SamplerOptions {
  int64_t n = 1;
  int64_t steps = 50;
  StepRule rule = StepRule::kAncestral;
  FinalRule final_rule = FinalRule::kArgmax;
  double guidance = 0.0;  // w >= 0; needs a class-conditional model when > 0
  // guidance applies only at grid times t in [guidance_t_min, guidance_t_max] (Kynkaanniemi et al. 2024: guidance at
  // high noise costs diversity, at low noise it does little); outside it the prediction is the conditional one
  double guidance_t_min = 0.0;
  double guidance_t_max = 1.0;
  double grid_shift = 1.0;  // the time grid's shift g (sampler_time_grid.h): g > 1 puts more steps at low noise
  // the grid of the model's learned time warp instead (sampler_time_grid.h; needs train.timeWarp "learned"; g = 1)
  bool learned_time_grid = false;
  // diffusion samplers: p = softmax(logits / temperature) at every step (e_hat, the consistency draws, the final rule
  // and the returned probs); < 1 sharpens the predictions toward their modes
  double temperature = 1.0;
  at::Tensor classes;     // [n] int64 in [0, C): required for a conditional model, undefined for an unconditional one
  uint64_t seed = 0;
  int64_t batch_size = 64;
  KnownTokens known;      // optional infilling / inpainting constraint
  int64_t infill_resample = 1;  // R: tries per step when infilling (> 1 needs known tokens)
  double maskgit_temperature = 4.5;  // MaskGIT: Gumbel noise scale on the log-confidence, annealed linearly to 0
  // commit: 0 commits the most probable tokens by confidence; tau > 0 MaskGIT's randomised choice (sampler_commit.h)
  double commit_temperature = 0.0;
  // ddim and commit: 1 takes the DDIM step; 2 DPM-Solver++(2M)'s multistep update (multistep_prediction.h), which
  // extrapolates the prediction from the previous step's at no extra network evaluation
  int64_t solver_order = 1;
  // ddim and commit: UniPC's corrector (multistep_corrector.h): each step is taken again once the network has
  // predicted at its end, with that prediction included; one order more, no extra network evaluation
  bool corrector = false;
  bool return_probs = false;
};

struct SampleResult {
  at::Tensor tokens;                   // [n, N] int32, CPU
  at::Tensor probs;                    // [n, N, K] float32, CPU, the final p (one-hot at known positions); if asked
  int64_t evaluations_per_sample = 0;  // steps x infill_resample (+ 1 but for commit; MaskGIT: steps)
  int64_t forward_calls = 0;           // batched Denoiser::logits calls: evaluations_per_sample x number of batches
  int64_t forward_rows = 0;            // rows through the network: evaluations x n, doubled with guidance
};

// Throws E_RANGE / E_SHAPE / E_CONFIG / E_DTYPE for options that do not fit the denoiser.
void validate_sampler_options(const Denoiser& denoiser, const SamplerOptions& options);

// Splits the n samples into batches of batch_size; sample i's noise depends only on (seed, i), see sample_noise.h.
// Checks ctx for cancellation before every network evaluation and reports {step, steps, batch, batches} per step.
SampleResult sample(Denoiser& denoiser, const SamplerOptions& options, const TaskContext& ctx);

}  // namespace lcmd
