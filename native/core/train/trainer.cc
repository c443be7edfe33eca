#include "core/train/trainer.h"

#include <cmath>

#include "core/base/compat.h"
#include "core/base/device.h"
#include "core/base/sync_probe.h"
#include "core/train/checkpoint_tensor.h"
#include "core/train/ema.h"
#include "core/base/error.h"
#include "core/train/lr_schedule.h"
#include "core/train/objective.h"
#include "core/noise/training_noise.h"

namespace lcmd {

namespace {

// No weight decay on the embedding table, the [mask] vector, the class embedding, the posterior-input table (a
// token embedding too), norms and biases.
bool decays(const std::string& name, const at::Tensor& p) {
  return p.dim() >= 2 && name.rfind("embedding.", 0) != 0 && name.rfind("class_embed.", 0) != 0 && name != "posterior_in";
}

void copy_named(LcmdModelImpl& model, const std::string& prefix, const std::map<std::string, at::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) item.value().copy_(checkpoint_tensor(tensors, prefix + item.key(), item.value(), "the checkpoint"));
}

}  // namespace

Trainer::Trainer(const ModelConfig& model_config, const TrainConfig& train_config)
    : config_(train_config), device_(parse_device(train_config.device)) {
  config_.validate();
  LCMD_CHECK(config_.precision == "fp32" || device_.is_cuda(), "E_CONFIG",
             "precision 'bf16' needs a CUDA device; use fp32 on the CPU");
  LCMD_CHECK(model_config.method != "maskgit" || config_.objective == "lcmd", "E_CONFIG",
             "train.objective 'vlb' is a diffusion objective; a model of method 'maskgit' trains with its own loss");
  LCMD_CHECK(model_config.method != "maskgit" || config_.time_warp == "uniform", "E_CONFIG",
             "train.timeWarp 'learned' warps diffusion time; a model of method 'maskgit' draws its mask ratio on its own");
  // Attention dropout draws from the default generator: seed it so a run is reproducible (and it is checkpointed).
  // the student, its gradient, the sampling EMA, the teacher and Adam's two moments
  model_config.validate(6);
  torch::manual_seed(config_.seed);
  model_ = LcmdModel(model_config);
  model_->to(device_);
  model_->train();
  ema_ = copy_model(*model_);
  ema_->eval();
  if (config_.teacher == "ema") {
    teacher_ = copy_model(*model_);
    teacher_->eval();
  }
  std::vector<bool> decay;
  auto ema_named = ema_->named_parameters();
  auto teacher_named = teacher_ ? teacher_->named_parameters() : torch::OrderedDict<std::string, at::Tensor>();
  for (auto& item : model_->named_parameters()) {
    const bool trained = item.value().requires_grad();
    (trained ? params_ : frozen_params_).push_back(item.value());
    (trained ? ema_params_ : frozen_ema_).push_back(ema_named[item.key()]);
    if (teacher_) (trained ? teacher_params_ : frozen_teacher_).push_back(teacher_named[item.key()]);
    if (!trained) continue;
    names_.push_back(item.key());
    decay.push_back(decays(item.key(), item.value()));
  }
  if (config_.time_warp == "learned") time_warp_ = std::make_unique<TimeWarp>(device_);
  optimizer_ = std::make_unique<AdamW>(params_, decay, AdamWOptions{config_.beta1, config_.beta2, config_.adam_eps, config_.weight_decay});
}

LcmdModelImpl& Trainer::teacher() {
  if (config_.teacher == "ema") return *teacher_;
  if (config_.teacher == "sampling") return *ema_;
  return *model_;  // online: the student under stop-gradient
}

void Trainer::validate_batch(const at::Tensor& tokens, const at::Tensor& classes) const {
  const auto& mc = model_->config();
  LCMD_CHECK(tokens.dim() == 2 && tokens.size(1) == mc.num_tokens() && tokens.size(0) > 0, "E_SHAPE",
             "expected tokens of shape [B, " + std::to_string(mc.num_tokens()) + "], got " + c10::str(tokens.sizes()));
  LCMD_CHECK(!at::isFloatingType(tokens.scalar_type()) && tokens.scalar_type() != at::kBool, "E_DTYPE",
             "token ids must be integers, got " + std::string(c10::toString(tokens.scalar_type())));
  auto lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
  LCMD_CHECK(lo >= 0 && hi < mc.vocab_size, "E_RANGE",
             "token ids must be in [0, " + std::to_string(mc.vocab_size - 1) + "], got values in [" + std::to_string(lo) + ", " +
                 std::to_string(hi) + "]");
  if (classes.defined()) {
    LCMD_CHECK(mc.num_classes > 0, "E_CONFIG", "class labels were given but the model is unconditional (numClasses = 0)");
    LCMD_CHECK(classes.dim() == 1 && classes.size(0) == tokens.size(0), "E_SHAPE",
               "expected one class label per example ([" + std::to_string(tokens.size(0)) + "]), got " + c10::str(classes.sizes()));
    auto clo = classes.min().item<int64_t>(), chi = classes.max().item<int64_t>();
    LCMD_CHECK(clo >= 0 && chi < mc.num_classes, "E_RANGE",
               "class labels must be in [0, " + std::to_string(mc.num_classes - 1) + "], got values in [" + std::to_string(clo) + ", " +
                   std::to_string(chi) + "]");
  }
}

StepResult Trainer::step(const at::Tensor& tokens_in, const at::Tensor& classes_in, int64_t example_offset) {
  validate_batch(tokens_in, classes_in);  // on the caller's (host) tensors, before any device work
  // From here on the host reads the device once: the loss terms and the gradient norm, in one copy (sync_probe.h).
  SyncProbe::DevicePhase device_phase;
  auto tokens = host_to_device(tokens_in.to(at::kLong), device_);
  auto classes = classes_in.defined() ? host_to_device(classes_in.to(at::kLong), device_) : classes_in;
  const auto& mc = model_->config();
  const int64_t batch = tokens.size(0);

  StepResult r;
  r.lr = learning_rate(config_, steps_);
  r.lambda_cm = config_.objective == "vlb" || mc.method == "maskgit" ? 0.0 : lambda_cm_at(config_, steps_);
  r.lambda_diff = lambda_diff_at(config_, steps_);
  TimeFromUniform warp_time;
  if (time_warp_) warp_time = [this](const at::Tensor& u) { return time_warp_->times(u); };
  auto noise = draw_training_noise(config_.seed, steps_, example_offset, batch, mc.num_tokens(), mc.embed_dim, model_->schedule(),
                                   config_.objective == "vlb", device_, warp_time, config_.time_sampling);

  if (sync_.prepare)
    sync_.prepare(params_);
  else
    for (auto& p : params_) p.mutable_grad() = at::Tensor();
  LossTerms terms;
  {
    compat::AutocastScope autocast(config_.precision == "bf16");
    terms = compute_losses(*model_, teacher(), config_, {tokens, classes, &noise, r.lambda_cm, r.lambda_diff});
  }
  // Backward runs whatever the loss, so that nothing waits for its value; a non-finite loss skips the update below.
  terms.total.backward();

  std::vector<at::Tensor> grads;
  for (auto& p : params_) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  torch::NoGradGuard no_grad;
  auto warp_stats = time_warp_ ? time_warp_->batch_statistics(noise.t, terms.ce_per_example) : at::Tensor();
  if (sync_.reduce) {
    // A non-finite local loss poisons one gradient, so every rank sees a non-finite norm after the all-reduce and
    // all skip together; decided on the device (0 or NaN added).
    auto poison = torch::where(torch::isfinite(terms.total.detach()), 0.0, std::numeric_limits<double>::quiet_NaN());
    grads.front().add_(poison.to(grads.front().scalar_type()));
    // the time warp's batch statistics ride along, so every rank folds in the global batch's
    auto synced = grads;
    if (warp_stats.defined()) synced.push_back(warp_stats);
    sync_.reduce(synced);
  }
  auto norm_sq = torch::stack(at::_foreach_norm(grads)).to(at::kDouble).pow(2).sum();
  auto as_double = [](const at::Tensor& v) { return v.detach().to(at::kDouble).reshape({}); };
  auto values = read_to_host(torch::stack({as_double(terms.total), as_double(terms.recon), as_double(terms.ce), as_double(terms.diff),
                                           as_double(terms.cm), as_double(terms.prior), as_double(terms.accuracy_t), norm_sq}),
                             "loss terms and gradient norm");
  const double* v = values.data_ptr<double>();
  r.loss = v[0], r.recon = v[1], r.ce = v[2], r.diff = v[3], r.cm = v[4], r.prior = v[5], r.accuracy_t = v[6];
  r.grad_norm = std::sqrt(v[7]);

  if (!std::isfinite(r.loss) || !std::isfinite(r.grad_norm)) {
    r.skipped = true;
    ++skipped_;
  } else {
    const bool clip = config_.grad_clip > 0 && r.grad_norm > config_.grad_clip;
    apply_update(r.lr, clip ? config_.grad_clip / (r.grad_norm + 1e-6) : 1.0);
    if (time_warp_) time_warp_->update(warp_stats);
  }
  if (!sync_.prepare)
    for (auto& p : params_) p.mutable_grad() = at::Tensor();  // bucket views stay: they are the persistent buffers
  ++steps_;
  r.step = steps_;
  return r;
}

void Trainer::load_codebook(const at::Tensor& codebook) {
  LCMD_CHECK(steps_ == 0, "E_CONFIG", "load the codebook before the first training step (this trainer has taken " + std::to_string(steps_) + ")");
  LCMD_CHECK(codebook.is_floating_point(), "E_DTYPE", "the codebook must be a floating-point tensor, got " + std::string(c10::toString(codebook.scalar_type())));
  LCMD_CHECK(torch::isfinite(codebook).all().item<bool>(), "E_RANGE", "the codebook holds non-finite values");
  const auto on_device = codebook.to(device_);
  model_->embedding()->load_codebook(on_device);
  ema_->embedding()->load_codebook(on_device);
  if (teacher_) teacher_->embedding()->load_codebook(on_device);
}

void Trainer::apply_update(double lr, double grad_scale) {
  // n counts applied updates, so the warm-up restarts neither on skipped steps nor on resume
  const int64_t n = optimizer_->steps();
  const double ema_decay = ema_decay_at(config_.ema_decay, n, true);
  const double teacher_decay = ema_decay_at(config_.teacher_decay, n, config_.teacher_warmup);
  std::vector<EmaTarget> emas{{ema_params_, ema_decay}};
  if (teacher_) emas.push_back({teacher_params_, teacher_decay});
  optimizer_->step(lr, grad_scale, emas);
  if (!frozen_params_.empty()) {
    ema_update(frozen_ema_, frozen_params_, ema_decay);
    if (teacher_) ema_update(frozen_teacher_, frozen_params_, teacher_decay);
  }
}

std::vector<std::pair<std::string, at::Tensor>> Trainer::state_tensors() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : model_->named_parameters()) out.emplace_back("model." + item.key(), item.value().detach());
  for (const auto& item : ema_->named_parameters()) out.emplace_back("ema." + item.key(), item.value().detach());
  if (teacher_)
    for (const auto& item : teacher_->named_parameters()) out.emplace_back("teacher." + item.key(), item.value().detach());
  for (size_t i = 0; i < names_.size(); ++i) {
    out.emplace_back("optim.exp_avg." + names_[i], optimizer_->exp_avg()[i]);
    out.emplace_back("optim.exp_avg_sq." + names_[i], optimizer_->exp_avg_sq()[i]);
  }
  if (time_warp_) out.emplace_back("time_warp.stats", time_warp_->statistics());
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  out.emplace_back("rng.cpu", generator.get_state());
  return out;
}

void Trainer::load_state(const std::map<std::string, at::Tensor>& tensors, int64_t steps, int64_t skipped, int64_t optimizer_steps) {
  copy_named(*model_, "model.", tensors);
  copy_named(*ema_, "ema.", tensors);
  if (teacher_) {
    // a checkpoint from a run with another teacher mode starts the teacher from the sampling EMA
    bool has_teacher = tensors.count("teacher." + names_.front()) > 0;
    copy_named(*teacher_, has_teacher ? "teacher." : "ema.", tensors);
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < names_.size(); ++i) {
    optimizer_->exp_avg()[i].copy_(checkpoint_tensor(tensors, "optim.exp_avg." + names_[i], optimizer_->exp_avg()[i], "the checkpoint"));
    optimizer_->exp_avg_sq()[i].copy_(checkpoint_tensor(tensors, "optim.exp_avg_sq." + names_[i], optimizer_->exp_avg_sq()[i], "the checkpoint"));
  }
  optimizer_->set_steps(optimizer_steps);
  if (time_warp_) {
    // a checkpoint trained with uniform t has no statistics: the warp then starts from uniform again
    auto stats = tensors.find("time_warp.stats");
    if (stats != tensors.end()) time_warp_->statistics().copy_(checkpoint_tensor(tensors, "time_warp.stats", time_warp_->statistics(), "the checkpoint"));
  }
  auto rng = tensors.find("rng.cpu");
  if (rng != tensors.end()) {
    try {
      at::Generator generator = at::detail::getDefaultCPUGenerator();
      generator.set_state(rng->second);
    } catch (const c10::Error&) {
      fail("E_CHECKPOINT", "the checkpoint's RNG state is invalid");
    }
  }
  steps_ = steps;
  skipped_ = skipped;
}

}  // namespace lcmd
