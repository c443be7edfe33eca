#include "core/eval/evaluation.h"

#include <cmath>

#include "core/base/error.h"

#include "core/noise/counter_noise.h"
#include "core/train/objective.h"
#include "core/eval/vlb_importance.h"

namespace lcmd {

namespace {

constexpr double kLn2 = 0.69314718055994530942;
enum Purpose : uint64_t { kEvalEps0 = 101, kEvalEpsT, kEvalChoice, kEvalLevel, kTableEps };

// Puts the model in eval mode for the scope, restoring the previous mode.
struct EvalScope {
  explicit EvalScope(LcmdModelImpl& m) : model(m), was_training(m.is_training()) { model.eval(); }
  ~EvalScope() { model.train(was_training); }
  LcmdModelImpl& model;
  bool was_training;
};

at::Tensor slice_or_undefined(const at::Tensor& t, int64_t start, int64_t len) {
  return t.defined() ? t.narrow(0, start, len) : t;
}

// The bound and the table need a diffusion model: a MaskGIT model has neither.
void require_diffusion_model(const LcmdModelImpl& model) {
  LCMD_CHECK(model.config().method == "lcmd", "E_CONFIG",
             "held-out bits per token and the per-noise-level table are diffusion diagnostics; a model of method 'maskgit' has "
             "none: train it without --heldout and score its samples instead");
}

}  // namespace

VlbReport estimate_vlb(LcmdModelImpl& model, const at::Tensor& tokens, const at::Tensor& classes, int64_t importance_samples,
                       uint64_t seed, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  require_diffusion_model(model);
  EvalScope scope(model);
  const auto& schedule = model.schedule();
  auto device = model.embedding()->table().device();
  const int64_t n = tokens.size(0), N = tokens.size(1), d = model.config().embed_dim, K = model.config().vocab_size;
  const double alpha_0 = schedule.alpha(0.0), sigma_0 = schedule.sigma(0.0);
  double recon = 0, prior = 0, diff_sum = 0, diff_sq_sum = 0;
  int64_t diff_count = 0;
  auto table = model.embedding()->table();
  for (int64_t start = 0; start < n; start += batch_size) {
    int64_t b = std::min(batch_size, n - start);
    auto x = tokens.narrow(0, start, b).to(device);
    auto c = slice_or_undefined(classes, start, b);
    if (c.defined()) c = c.to(device);
    auto e_x = torch::embedding(table, x);
    auto eps0 = counter_normal(ExampleStreams{seed, uint64_t(0), start, b, kEvalEps0}, N * d, device).view({b, N, d});
    auto logits0 = model.forward(alpha_0 * e_x + sigma_0 * eps0, torch::zeros({b}, e_x.options()), c);
    recon += torch::nn::functional::cross_entropy(logits0.reshape({-1, K}), x.reshape({-1}),
                                                  torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                 .item<double>();
    prior += prior_kl(e_x, schedule.alpha(1.0), schedule.sigma(1.0)).sum().item<double>();
    for (int64_t k = 0; k < importance_samples; ++k) {
      auto cpu = c10::Device(at::kCPU);
      auto u_choice = counter_uniform(ExampleStreams{seed, uint64_t(k), start, b, kEvalChoice}, 1, cpu).view({b});
      auto u_value = counter_uniform(ExampleStreams{seed, uint64_t(k), start, b, kEvalLevel}, 1, cpu).view({b});
      auto samples = sample_logsnr_importance(schedule, u_choice, u_value);
      auto t = samples.t.to(at::kFloat).to(device);
      auto eps = counter_normal(ExampleStreams{seed, uint64_t(k), start, b, kEvalEpsT}, N * d, device).view({b, N, d});
      auto alpha = schedule.alpha(t).to(at::kFloat).view({-1, 1, 1}), sigma = schedule.sigma(t).to(at::kFloat).view({-1, 1, 1});
      auto logits = model.forward(alpha * e_x + sigma * eps, t, c);
      auto e_hat = model.predicted_embedding(logits);
      // per-example estimate of the diffusion term summed over the example's tokens
      auto per_example = (e_x - e_hat).pow(2).sum({1, 2}).to(at::kDouble).cpu() * samples.weight;
      diff_sum += per_example.sum().item<double>();
      diff_sq_sum += per_example.pow(2).sum().item<double>();
      diff_count += b;
    }
  }
  VlbReport r;
  r.tokens = n * N;
  double tokens_total = double(r.tokens);
  r.recon_bits = recon / tokens_total / kLn2;
  r.prior_bits = prior / tokens_total / kLn2;
  if (diff_count > 0) {
    double mean = diff_sum / double(diff_count);  // per example
    double var = std::max(0.0, diff_sq_sum / double(diff_count) - mean * mean);
    r.diffusion_bits = mean / double(N) / kLn2;
    r.diffusion_stderr_bits = std::sqrt(var / double(diff_count)) / double(N) / kLn2;
  }
  r.total_bits = r.recon_bits + r.prior_bits + r.diffusion_bits;
  return r;
}

std::vector<NoiseLevelRow> noise_level_table(LcmdModelImpl& model, const at::Tensor& tokens, const at::Tensor& classes, int64_t bins,
                                             uint64_t seed, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  require_diffusion_model(model);
  EvalScope scope(model);
  const auto& schedule = model.schedule();
  auto device = model.embedding()->table().device();
  const int64_t n = tokens.size(0), N = tokens.size(1), d = model.config().embed_dim, K = model.config().vocab_size;
  std::vector<NoiseLevelRow> rows;
  auto table = model.embedding()->table();
  for (int64_t bin = 0; bin < bins; ++bin) {
    NoiseLevelRow row;
    row.t_low = double(bin) / double(bins);
    row.t_high = double(bin + 1) / double(bins);
    double mid = 0.5 * (row.t_low + row.t_high);
    row.logsnr_mid = schedule.logsnr(mid);
    double correct = 0, ce = 0;
    for (int64_t start = 0; start < n; start += batch_size) {
      int64_t b = std::min(batch_size, n - start);
      auto x = tokens.narrow(0, start, b).to(device);
      auto c = slice_or_undefined(classes, start, b);
      if (c.defined()) c = c.to(device);
      // t uniform within the bin, fixed per example by the seed
      auto u = counter_uniform(ExampleStreams{seed, uint64_t(bin), start, b, kTableEps + 1}, 1, device).view({b});
      auto t = row.t_low + u * (row.t_high - row.t_low);
      auto eps = counter_normal(ExampleStreams{seed, uint64_t(bin), start, b, kTableEps}, N * d, device).view({b, N, d});
      auto e_x = torch::embedding(table, x);
      auto alpha = schedule.alpha(t).to(at::kFloat).view({-1, 1, 1}), sigma = schedule.sigma(t).to(at::kFloat).view({-1, 1, 1});
      auto logits = model.forward(alpha * e_x + sigma * eps, t, c);
      correct += (logits.argmax(-1) == x).sum().item<double>();
      ce += torch::nn::functional::cross_entropy(logits.reshape({-1, K}), x.reshape({-1}),
                                                 torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
    }
    row.accuracy = correct / double(n * N);
    row.cross_entropy = ce / double(n * N);
    rows.push_back(row);
  }
  return rows;
}

EmbeddingStats embedding_stats(const LcmdModelImpl& model) {
  torch::NoGradGuard no_grad;
  auto table = model.embedding()->table().to(at::kFloat);
  auto rows = table.narrow(0, 0, std::min<int64_t>(512, table.size(0)));
  EmbeddingStats s;
  s.mean_norm = table.norm(2, -1).mean().item<double>();
  auto dist = torch::cdist(rows.unsqueeze(0), rows.unsqueeze(0)).squeeze(0);
  int64_t m = rows.size(0);
  auto off_diag = ~torch::eye(m, at::TensorOptions().dtype(at::kBool).device(dist.device()));
  auto values = dist.masked_select(off_diag);
  s.mean_pairwise_dist = m > 1 ? values.mean().item<double>() : 0.0;
  s.min_pairwise_dist = m > 1 ? values.min().item<double>() : 0.0;
  s.dist_to_norm = s.mean_norm > 0 ? s.mean_pairwise_dist / s.mean_norm : 0.0;
  return s;
}

HeldoutReport evaluate_heldout(LcmdModelImpl& model, const at::Tensor& tokens, const at::Tensor& classes, const HeldoutOptions& options,
                               const TaskContext& ctx) {
  const auto& mc = model.config();
  LCMD_CHECK(tokens.dim() == 2 && tokens.size(1) == mc.num_tokens() && tokens.size(0) > 0, "E_SHAPE",
             "expected held-out tokens of shape [n, " + std::to_string(mc.num_tokens()) + "]");
  const auto lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
  LCMD_CHECK(lo >= 0 && hi < mc.vocab_size, "E_RANGE", "token ids must be in [0, " + std::to_string(mc.vocab_size - 1) + "]");
  LCMD_CHECK(options.importance_samples >= 1 && options.bins >= 1 && options.batch_size >= 1, "E_RANGE",
             "importanceSamples, bins and batchSize must be positive");
  if (classes.defined()) LCMD_CHECK(classes.dim() == 1 && classes.size(0) == tokens.size(0), "E_SHAPE", "expected one class per example");
  auto x = tokens.to(at::kLong);
  auto c = classes.defined() ? classes.to(at::kLong) : classes;
  HeldoutReport r;
  r.vlb = estimate_vlb(model, x, c, options.importance_samples, options.seed, options.batch_size);
  ctx.throw_if_cancelled();
  r.table = noise_level_table(model, x, c, options.bins, options.seed, options.batch_size);
  r.embeddings = embedding_stats(model);
  return r;
}

}  // namespace lcmd
