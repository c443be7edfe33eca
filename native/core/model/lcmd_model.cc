#include "core/model/lcmd_model.h"

#include "core/base/error.h"
#include "core/model/dense.h"
#include "core/model/sinusoidal.h"

namespace lcmd {

LcmdModelImpl::LcmdModelImpl(ModelConfig config)
    : config_(std::move(config)), schedule_(config_.shift, config_.max_logsnr) {
  config_.validate();
  build();
}

void LcmdModelImpl::build() {
  const auto& c = config_;
  embedding_ = register_module("embedding", TokenEmbedding(c.vocab_size, c.embed_dim, c.embed_init_std, c.l2_normalize_embeddings));
  if (c.freeze_embeddings) {
    for (auto& p : embedding_->parameters()) p.set_requires_grad(false);
  }
  in_proj_ = register_module("in_proj", torch::nn::Linear(c.self_condition ? 2 * c.embed_dim : c.embed_dim, c.hidden));
  if (c.posterior_input) posterior_table_ = register_parameter("posterior_in", torch::randn({c.vocab_size, c.hidden}) * 0.02);
  positions_ = register_buffer("positions", sinusoidal_positions(c.num_tokens(), c.hidden));
  time_mlp_ = register_module("time_mlp", torch::nn::Sequential(torch::nn::Linear(c.cond_dim, c.cond_dim), torch::nn::SiLU(),
                                                                torch::nn::Linear(c.cond_dim, c.cond_dim)));
  if (c.num_classes > 0) class_embed_ = register_module("class_embed", torch::nn::Embedding(c.num_classes + 1, c.cond_dim));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.layers; ++i) blocks_->push_back(TransformerBlock(c.hidden, c.heads, c.mlp_ratio, c.cond_dim, c.attn_dropout));
  final_norm_ = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden}).eps(1e-6)));
  head_ = register_module("head", torch::nn::Linear(c.hidden, c.vocab_size));
}

at::Tensor LcmdModelImpl::conditioning(const at::Tensor& t, const at::Tensor& classes) {
  // lambda spans about [-20, 10] with the default shift; t is scaled so both use similar frequencies.
  auto level = config_.time_input == "logsnr" ? schedule_.logsnr(t) : t.to(at::kDouble) * 1000.0;
  auto y = time_mlp_->forward(sinusoidal_embedding(level.to(positions_.device(), positions_.scalar_type()), config_.cond_dim));
  if (config_.num_classes > 0) {
    auto cls = classes.defined() ? classes
                                 : torch::full({t.size(0)}, config_.num_classes, at::TensorOptions().dtype(at::kLong).device(y.device()));
    y = y + class_embed_->forward(cls);
  }
  return y;
}

at::Tensor LcmdModelImpl::exact_log_likelihood(const at::Tensor& z, const at::Tensor& t, at::ScalarType type) const {
  // log N(z_i; alpha e_k, sigma^2 I) up to a constant in k
  auto lam = schedule_.logsnr(t);
  auto alpha = torch::sqrt(torch::sigmoid(lam));
  auto coef_dot = (alpha * torch::exp(lam) / torch::sigmoid(lam)).to(type).view({-1, 1, 1});  // alpha / sigma^2
  auto coef_sq = (0.5 * torch::exp(lam)).to(type).view({-1, 1, 1});                           // alpha^2 / (2 sigma^2)
  auto table = embedding_->table().to(type);
  return coef_dot * torch::matmul(z.to(type), table.t()) - coef_sq * table.pow(2).sum(-1);
}

at::Tensor LcmdModelImpl::forward(const at::Tensor& z, const at::Tensor& t, const at::Tensor& classes, const ForwardExtras& extras) {
  auto y_act = torch::silu(conditioning(t, classes));
  auto input = z;
  if (config_.self_condition) input = torch::cat({z, extras.self_cond.defined() ? extras.self_cond.to(z.dtype()) : torch::zeros_like(z)}, -1);
  // the positions take the projection's type, so that under bf16 autocast the residual stream stays bf16 (a float32
  // buffer would promote every block's adds to float32); the norms keep float32 statistics (core/fused/adaptive_norm.h)
  auto projected = dense(in_proj_, input);
  auto h = projected + positions_.to(projected.scalar_type());
  // a dropped position holds the [mask] vector, not a noisy token: it gets no likelihood term, and the network
  // (which sees the vector) predicts it alone
  auto kept = extras.dropped.defined() ? extras.dropped.logical_not().unsqueeze(-1) : at::Tensor();
  at::Tensor exact;
  if (config_.exact_likelihood_logits || config_.posterior_input) {
    // float32 at least: the likelihood reaches about 1e6 at t = 0
    exact = exact_log_likelihood(z, t, z.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
    if (kept.defined()) exact = exact * kept.to(exact.scalar_type());
  }
  if (config_.posterior_input) {
    auto posterior = torch::softmax(exact, -1).to(h.scalar_type());
    if (kept.defined()) posterior = posterior * kept.to(posterior.scalar_type());
    h = h + torch::matmul(posterior, posterior_table_);
  }
  for (auto& block : *blocks_) h = block->as<TransformerBlockImpl>()->forward(h, y_act);
  // losses and softmax run in float32 even under bf16 autocast; a float64 model (gradient checks) stays float64
  auto logits = dense(head_, final_norm_(h));
  if (logits.scalar_type() != at::kDouble) logits = logits.to(at::kFloat);
  // the network then only learns a correction to the exact term
  if (config_.exact_likelihood_logits) logits = logits + exact.to(logits.scalar_type());
  return logits;
}

at::Tensor LcmdModelImpl::predicted_embedding(const at::Tensor& logits) const {
  return torch::matmul(torch::softmax(logits, -1), embedding_->table().to(logits.dtype()));
}

at::Tensor LcmdModelImpl::masked_input(const at::Tensor& tokens, const at::Tensor& masked) const {
  auto e = embedding_->lookup(tokens);
  return torch::where(masked.unsqueeze(-1), embedding_->mask_vector().to(e.dtype()), e);
}

int64_t LcmdModelImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

LcmdModel copy_model(LcmdModelImpl& source) {
  LcmdModel copy(source.config());
  auto table = source.embedding()->table();
  copy->to(table.device(), table.scalar_type());
  torch::NoGradGuard no_grad;
  auto from = source.named_parameters();
  for (auto& item : copy->named_parameters()) item.value().copy_(from[item.key()]);
  copy->train(source.is_training());
  return copy;
}

}  // namespace lcmd
