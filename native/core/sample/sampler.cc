#include "core/sample/sampler.h"

#include <cmath>

#include "core/base/device.h"
#include "core/base/error.h"
#include "core/base/sync_probe.h"
#include "core/noise/sample_noise.h"
#include "core/sample/sampler_guidance.h"
#include "core/diffusion/ancestral_step.h"
#include "core/diffusion/ddim_step.h"
#include "core/diffusion/multistep_corrector.h"
#include "core/diffusion/multistep_prediction.h"
#include "core/sample/maskgit_sampler.h"
#include "core/sample/predicted_embedding.h"
#include "core/sample/sampler_commit.h"

namespace lcmd {

namespace {

constexpr int64_t kMaxSteps = 1000000;

std::string shape_string(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

void validate_known(const Denoiser& denoiser, const SamplerOptions& options) {
  const auto& known = options.known;
  if (!known.defined()) return;
  const int64_t n_tokens = denoiser.num_tokens();
  LCMD_CHECK(known.tokens.defined(), "E_CONFIG", "known tokens need both tokens and a mask");
  for (const auto* t : {&known.tokens, &known.mask}) {
    LCMD_CHECK(t->dim() == 2 && (t->size(0) == 1 || t->size(0) == options.n) && t->size(1) == n_tokens, "E_SHAPE",
               "expected known tokens and mask of shape [" + std::to_string(options.n) + ", " + std::to_string(n_tokens) +
                   "] or [1, " + std::to_string(n_tokens) + "], got " + shape_string(*t));
  }
  LCMD_CHECK(known.tokens.sizes() == known.mask.sizes(), "E_SHAPE",
             "known tokens " + shape_string(known.tokens) + " and mask " + shape_string(known.mask) + " differ in shape");
  LCMD_CHECK(!at::isFloatingType(known.tokens.scalar_type()) && known.tokens.scalar_type() != at::kBool, "E_DTYPE",
             "known tokens must be integers");
  LCMD_CHECK(known.mask.scalar_type() == at::kBool || known.mask.scalar_type() == at::kByte, "E_DTYPE",
             "the known mask must be bool or uint8");
  auto mask = known.mask.to(at::kBool);
  if (known.mask.scalar_type() == at::kByte)
    LCMD_CHECK(known.mask.le(1).all().item<bool>(), "E_RANGE", "the known mask must hold only 0 and 1");
  auto masked = known.tokens.to(at::kLong).masked_select(mask);
  if (masked.numel() > 0) {
    const int64_t lo = masked.min().item<int64_t>(), hi = masked.max().item<int64_t>();
    LCMD_CHECK(lo >= 0 && hi < denoiser.vocab_size(), "E_RANGE",
               "known tokens must be in [0, " + std::to_string(denoiser.vocab_size()) + "), got values in [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
}

// One batch of `count` samples starting at sample `first`.
struct BatchOutput {
  at::Tensor tokens;  // [count, N] int64 on the device
  at::Tensor probs;   // [count, N, K] or undefined
  int64_t forward_rows = 0;
};

BatchOutput sample_batch(Denoiser& denoiser, const SamplerOptions& options, const std::vector<double>& grid, int64_t first, int64_t count,
                         int64_t batch_index, int64_t batches, const TaskContext& ctx) {
  const auto device = denoiser.device();
  const auto& schedule = denoiser.schedule();
  const int64_t n_tokens = denoiser.num_tokens(), dim = denoiser.embed_dim(), steps = options.steps;
  const SampleNoise noise(options.seed, first, count, device);
  const auto table = denoiser.embeddings().to(device, at::kFloat);
  const auto classes = options.classes.defined() ? host_to_device(options.classes.narrow(0, first, count).to(at::kLong), device) : at::Tensor();
  const auto known = options.known.defined() ? options.known.rows(first, count, device) : KnownTokens{};
  const auto float_on_device = at::TensorOptions().dtype(at::kFloat).device(device);

  BatchOutput out;
  auto report = [&](int64_t done) {
    ctx.report("sample", {{"step", double(done)}, {"steps", double(steps)}, {"batch", double(batch_index + 1)}, {"batches", double(batches)}});
  };
  if (options.rule == StepRule::kMaskgit) {
    auto result = maskgit_sample_batch(denoiser, noise, classes, known, count, steps, options.guidance, options.maskgit_temperature,
                                       [&](int64_t i) {
                                         ctx.throw_if_cancelled();
                                         report(i + 1);
                                       });
    out.tokens = result.tokens;
    out.forward_rows = result.forward_rows;
    return out;
  }
  at::Tensor self_cond;  // the previous guided e_hat, for self-conditioning models
  Commitment commitment;  // the commit rule's committed tokens
  // solver order 2 and the corrector: the predictions of the last two steps, made at grid indices j + 1 and j + 2,
  // and z where the last step started (at j + 1)
  at::Tensor previous_e_hat, older_e_hat, previous_z;
  // Refresh the known positions (infilling), then the guided p(. | z_t, t) at grid index j (try `repeat` of the step).
  auto predict = [&](at::Tensor& z, int64_t j, int64_t repeat) {
    ctx.throw_if_cancelled();
    const double t = grid[j];
    if (known.defined())
      z = noise_known(z, known, table, schedule.alpha(t), schedule.sigma(t),
                      noise.normal(SampleNoiseKind::kInfill, j, {n_tokens, dim}, repeat));
    const bool in_interval = t >= options.guidance_t_min && t <= options.guidance_t_max;
    auto guided = guided_logits(denoiser, z, torch::full({count}, static_cast<float>(t), float_on_device), classes, in_interval ? options.guidance : 0.0,
                                denoiser.self_conditioned() ? self_cond : at::Tensor());
    out.forward_rows += guided.forward_rows;
    auto logits = guided.logits.to(at::kFloat);
    return torch::softmax(options.temperature == 1.0 ? logits : logits / static_cast<float>(options.temperature), -1);
  };

  auto z = noise.normal(SampleNoiseKind::kInitial, steps, {n_tokens, dim});
  for (int64_t j = steps; j >= 1; --j) {
    const auto times = step_times(schedule, grid[j - 1], grid[j]);
    // second order from the second step on, first order on the last step (to t = 0; multistep_prediction.h)
    const bool second_order = options.solver_order == 2 && previous_e_hat.defined() && j > 1;
    const double multistep = second_order ? multistep_weight(schedule.logsnr(grid[j + 1]), schedule.logsnr(grid[j]), schedule.logsnr(grid[j - 1])) : 0.0;
    at::Tensor step_e_hat, step_z;
    for (int64_t repeat = 0; repeat < options.infill_resample; ++repeat) {
      if (repeat > 0) z = forward_update(z, noise.streams(SampleNoiseKind::kResample, j, repeat), times);
      auto probs = predict(z, j, repeat);
      auto e_hat = predicted_embedding(probs, table);
      if (options.rule == StepRule::kCommit) {
        const auto choice = options.commit_temperature > 0
                                ? drawn_with_gumbel(probs, noise.uniform(SampleNoiseKind::kTokenDraw, j, {n_tokens, 2}, repeat),
                                                    noise.uniform(SampleNoiseKind::kGumbel, j, {n_tokens}, repeat),
                                                    options.commit_temperature * double(j) / double(steps))
                                : most_confident(probs);
        commitment = commit_tokens(choice, commitment, committed_after_step(n_tokens, steps, j));
        e_hat = clamp_to_committed(e_hat, commitment, table);
      }
      if (options.corrector && previous_e_hat.defined()) {
        // UniC: the last step again, from where it started, with this prediction included (multistep_corrector.h);
        // order 2 where that step extrapolated
        const bool order_two = options.solver_order == 2 && older_e_hat.defined();
        const auto w = corrector_weights(order_two ? 2 : 1, order_two ? schedule.logsnr(grid[j + 2]) : 0.0, schedule.logsnr(grid[j + 1]),
                                         schedule.logsnr(grid[j]));
        z = ddim_step(previous_z, corrector_prediction(w, order_two ? older_e_hat : at::Tensor(), previous_e_hat, e_hat),
                      step_times(schedule, grid[j], grid[j + 1]));
      }
      if (denoiser.self_conditioned()) self_cond = e_hat;
      step_z = z;
      if (options.rule == StepRule::kAncestral) {
        z = ancestral_update(z, e_hat, noise.streams(SampleNoiseKind::kAncestral, j, repeat), times);
      } else if (options.rule == StepRule::kDdim || options.rule == StepRule::kCommit) {
        auto target = e_hat;
        if (second_order) {
          target = multistep_prediction(e_hat, previous_e_hat, multistep);
          // a committed token is the final answer: no extrapolation from the mixture it was before
          if (commitment.mask.defined()) target = torch::where(commitment.mask.unsqueeze(-1), e_hat, target);
        }
        z = ddim_step(z, target, times);
      } else {
        auto drawn = final_tokens(probs, FinalRule::kSample, noise.uniform(SampleNoiseKind::kTokenDraw, j, {n_tokens, 2}, repeat));
        auto eps = noise.normal(SampleNoiseKind::kAncestral, j, {n_tokens, dim}, repeat);
        z = torch::embedding(table, drawn) * static_cast<float>(times.alpha_s) + eps * static_cast<float>(times.sigma_s);
      }
      step_e_hat = e_hat;
    }
    older_e_hat = previous_e_hat;
    previous_e_hat = step_e_hat;
    previous_z = step_z;
    report(steps - j + 1);
  }
  at::Tensor probs;
  if (commitment.mask.defined()) {
    // every position is committed by the last step: the output is the committed tokens, and a prediction at t = 0
    // could not change them, so none is made
    out.tokens = commitment.tokens;
    // a scatter, not torch::one_hot, which reads the tokens' range back to the host
    if (options.return_probs)
      probs = torch::zeros({count, n_tokens, denoiser.vocab_size()}, float_on_device).scatter_(-1, out.tokens.unsqueeze(-1), 1.0);
  } else {
    probs = predict(z, 0, 0);
    auto uniforms = options.final_rule == FinalRule::kSample ? noise.uniform(SampleNoiseKind::kFinal, 0, {n_tokens, 2}) : at::Tensor();
    out.tokens = final_tokens(probs, options.final_rule, uniforms);
  }
  if (known.defined()) out.tokens = keep_known(out.tokens, known);
  if (options.return_probs) out.probs = known.defined() ? keep_known_probs(probs, known) : probs;
  return out;
}

}  // namespace

void validate_sampler_options(const Denoiser& denoiser, const SamplerOptions& options) {
  const int64_t num_classes = denoiser.num_classes();
  LCMD_CHECK(options.n >= 1, "E_RANGE", "the number of samples n must be at least 1, got " + std::to_string(options.n));
  LCMD_CHECK(options.steps >= 1 && options.steps <= kMaxSteps, "E_RANGE",
             "steps must be in [1, " + std::to_string(kMaxSteps) + "], got " + std::to_string(options.steps));
  LCMD_CHECK(options.infill_resample >= 1 && options.infill_resample <= 1000, "E_RANGE",
             "infillResample must be in [1, 1000], got " + std::to_string(options.infill_resample));
  LCMD_CHECK(options.infill_resample == 1 || options.known.defined(), "E_CONFIG", "infillResample > 1 needs known tokens");
  LCMD_CHECK(options.batch_size >= 1, "E_RANGE", "batchSize must be at least 1, got " + std::to_string(options.batch_size));
  LCMD_CHECK(std::isfinite(options.guidance) && options.guidance >= 0, "E_RANGE",
             "guidance must be a finite number >= 0, got " + std::to_string(options.guidance));
  LCMD_CHECK(std::isfinite(options.temperature) && options.temperature > 0 && options.temperature <= 100, "E_RANGE",
             "temperature must be a number in (0, 100], got " + std::to_string(options.temperature));
  LCMD_CHECK(std::isfinite(options.grid_shift) && options.grid_shift > 0 && options.grid_shift <= 1000, "E_RANGE",
             "gridShift must be a number in (0, 1000], got " + std::to_string(options.grid_shift));
  if (options.learned_time_grid) {
    LCMD_CHECK(options.grid_shift == 1.0, "E_CONFIG", "timeGrid 'learned' places every step itself: it takes no gridShift");
    LCMD_CHECK(options.rule != StepRule::kMaskgit, "E_CONFIG", "timeGrid 'learned' applies to diffusion samplers, not to 'maskgit'");
  }
  LCMD_CHECK(options.guidance_t_min >= 0 && options.guidance_t_min < options.guidance_t_max && options.guidance_t_max <= 1, "E_RANGE",
             "the guidance interval must satisfy 0 <= min < max <= 1");
  LCMD_CHECK(options.guidance == 0 || num_classes > 0, "E_CONFIG",
             "guidance needs a class-conditional model; this model is unconditional");
  if (num_classes == 0) {
    LCMD_CHECK(!options.classes.defined(), "E_CONFIG", "classes were given but this model is unconditional");
  } else {
    LCMD_CHECK(options.classes.defined(), "E_CONFIG",
               "this model is class-conditional: give classes (one per sample, or one for all) in [0, " +
                   std::to_string(num_classes) + ")");
    LCMD_CHECK(options.classes.dim() == 1 && options.classes.size(0) == options.n, "E_SHAPE",
               "expected " + std::to_string(options.n) + " classes, got shape " + shape_string(options.classes));
    LCMD_CHECK(!at::isFloatingType(options.classes.scalar_type()), "E_DTYPE", "classes must be integers");
    const int64_t lo = options.classes.min().item<int64_t>(), hi = options.classes.max().item<int64_t>();
    LCMD_CHECK(lo >= 0 && hi < num_classes, "E_RANGE",
               "classes must be in [0, " + std::to_string(num_classes) + ") (the null class " + std::to_string(num_classes) +
                   " is for guidance only), got values in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  validate_known(denoiser, options);
  const bool maskgit = denoiser.method() == "maskgit";
  LCMD_CHECK(maskgit == (options.rule == StepRule::kMaskgit), "E_CONFIG",
             maskgit ? "this is a MaskGIT model: sample it with the 'maskgit' sampler"
                     : "the 'maskgit' sampler needs a model of method 'maskgit'; use ancestral, ddim or consistency");
  LCMD_CHECK(std::isfinite(options.commit_temperature) && options.commit_temperature >= 0, "E_RANGE",
             "commitTemperature must be a finite number >= 0, got " + std::to_string(options.commit_temperature));
  LCMD_CHECK(options.commit_temperature == 0 || options.rule == StepRule::kCommit, "E_CONFIG",
             "commitTemperature applies to the 'commit' sampler only");
  LCMD_CHECK(options.solver_order == 1 || options.solver_order == 2, "E_RANGE",
             "solverOrder must be 1 or 2, got " + std::to_string(options.solver_order));
  LCMD_CHECK(options.solver_order == 1 || options.rule == StepRule::kDdim || options.rule == StepRule::kCommit, "E_CONFIG",
             "solverOrder 2 applies to the deterministic samplers 'ddim' and 'commit' only");
  LCMD_CHECK(!options.corrector || options.rule == StepRule::kDdim || options.rule == StepRule::kCommit, "E_CONFIG",
             "the corrector applies to the deterministic samplers 'ddim' and 'commit' only");
  LCMD_CHECK(!options.corrector || options.infill_resample == 1, "E_CONFIG",
             "the corrector and infillResample > 1 do not combine: resampling re-noises the step the corrector would redo");
  if (maskgit) {
    LCMD_CHECK(options.infill_resample == 1, "E_CONFIG", "infillResample applies to diffusion samplers, not to 'maskgit'");
    LCMD_CHECK(!options.return_probs, "E_CONFIG", "the 'maskgit' sampler returns no final probabilities");
    LCMD_CHECK(std::isfinite(options.maskgit_temperature) && options.maskgit_temperature >= 0, "E_RANGE",
               "maskgitTemperature must be a finite number >= 0");
  }
}

SampleResult sample(Denoiser& denoiser, const SamplerOptions& options, const TaskContext& ctx) {
  validate_sampler_options(denoiser, options);  // on the host inputs, before any device work
  // one grid for every batch; the learned one from a snapshot of the warp taken now (a host copy, before the device phase)
  std::vector<double> grid;
  if (options.learned_time_grid) {
    const auto warp = denoiser.time_warp_statistics();
    LCMD_CHECK(warp.defined(), "E_CONFIG",
               "timeGrid 'learned' needs a model trained with the learned time warp (lcmd train --time-warp learned); this model "
               "has no time-warp statistics: use the uniform grid or gridShift");
    grid = learned_time_grid(options.steps, warp);
  } else {
    grid = time_grid(options.steps, denoiser.schedule(), options.grid_shift);
  }
  // From here on the host reads the device once per batch: its tokens (and probabilities), in read_to_host.
  SyncProbe::DevicePhase device_phase;
  torch::NoGradGuard no_grad;
  const int64_t n = options.n, n_tokens = denoiser.num_tokens();
  const int64_t batches = (n + options.batch_size - 1) / options.batch_size;
  SampleResult result;
  result.tokens = torch::empty({n, n_tokens}, at::kInt);
  if (options.return_probs) result.probs = torch::empty({n, n_tokens, denoiser.vocab_size()}, at::kFloat);
  // MaskGIT and the commit rule end with every token chosen; the others predict once more at t = 0
  result.evaluations_per_sample = options.rule == StepRule::kMaskgit  ? options.steps
                                  : options.rule == StepRule::kCommit ? options.steps * options.infill_resample
                                                                      : options.steps * options.infill_resample + 1;
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t first = b * options.batch_size;
    const int64_t count = std::min(options.batch_size, n - first);
    auto batch = sample_batch(denoiser, options, grid, first, count, b, batches, ctx);
    result.tokens.narrow(0, first, count).copy_(read_to_host(batch.tokens.to(at::kInt), "sampled tokens"));
    if (options.return_probs) result.probs.narrow(0, first, count).copy_(read_to_host(batch.probs.to(at::kFloat), "final probabilities"));
    result.forward_calls += result.evaluations_per_sample;
    result.forward_rows += batch.forward_rows;
  }
  return result;
}

}  // namespace lcmd
