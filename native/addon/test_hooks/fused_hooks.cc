// Test hooks for the fused kernels (core/fused/) and the oneDNN Linear layers (core/model/dense.h): each one's result
// beside plain libtorch's on the same input, so tests can compare them with an independent computation.
#include "addon/errors.h"
#include "core/base/error.h"
#include "core/blas/onednn_gemm.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/fused/adaptive_norm.h"
#include "core/fused/attention.h"
#include "core/fused/adamw_ema.h"
#include "core/train/adamw.h"
#include "core/fused/cpu_features.h"
#include "core/fused/counter_noise_fill.h"
#include "core/fused/gelu.h"
#include "core/fused/noisy_update.h"
#include "core/fused/token_loss.h"
#include "core/model/dense.h"
#include "core/model/mlp.h"
#include "core/model/transformer_block.h"
#include "core/noise/counter_noise.h"
#include "core/noise/counter_noise_math.h"

namespace lcmd::addon {

namespace {

// fusedGelu(x, grad: Tensor handles of one shape) -> {fused, cpuPath, value, gradient, referenceValue, referenceGradient}.
// value and gradient come from fused::gelu through autograd (backward with `grad`); the references from torch::gelu
// in float64 and its autograd. All are returned in float64.
Napi::Value FusedGelu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto x = TensorHandle::From(env, info[0], "x");
    auto grad = TensorHandle::From(env, info[1], "grad");
    LCMD_CHECK(x.sizes() == grad.sizes(), "E_SHAPE", "x and grad must have the same shape");
    auto run = [&](const at::Tensor& input, const at::Tensor& g, bool fused) {
      auto leaf = input.detach().clone().set_requires_grad(true);
      auto y = fused ? fused::gelu(leaf) : torch::gelu(leaf);
      y.backward(g);
      return std::make_pair(y.detach().to(at::kDouble), leaf.grad().to(at::kDouble));
    };
    torch::AutoGradMode grad_mode(true);
    auto [value, gradient] = run(x, grad.to(x.scalar_type()), true);
    auto [ref_value, ref_gradient] = run(x.to(at::kDouble), grad.to(at::kDouble), false);
    auto out = Napi::Object::New(env);
    out.Set("fused", Napi::Boolean::New(env, fused::gelu_is_fused(x)));
    out.Set("cpuPath", Napi::String::New(env, fused::cpu_path()));
    out.Set("value", TensorHandle::Wrap(env, value));
    out.Set("gradient", TensorHandle::Wrap(env, gradient));
    out.Set("referenceValue", TensorHandle::Wrap(env, ref_value));
    out.Set("referenceGradient", TensorHandle::Wrap(env, ref_gradient));
    return out;
  });
}

// fusedAttention(qkv: [B, N, 3 hidden] handle, heads, dropout, seed, grad: [B, N, hidden] handle or null) ->
// {fused, value, gradient?, libtorchValue, libtorchGradient?, reference, referenceGradient?}, each in float64:
// - value, gradient: fused::attention (where it takes qkv) after torch::manual_seed(seed), backward with grad; without
//   grad, the forward alone without autograd;
// - libtorch*: softmax(q k^T / sqrt(dh)) then torch::dropout on the weights and v, in float32 with libtorch's ops after
//   the same seed (the path fused::attention replaces, with its own mask draw);
// - reference*: the same in float64 with autograd, the weights dropped by bernoulli(1 - p) / (1 - p) drawn after the
//   same seed on the float32 [B, heads, N, N] weights' shape, as libtorch's dropout draws it.
Napi::Value FusedAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto qkv = TensorHandle::From(env, info[0], "qkv");
    const int64_t heads = info[1].As<Napi::Number>().Int64Value();
    const double p = info[2].As<Napi::Number>().DoubleValue();
    const auto seed = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
    const bool with_grad = !info[4].IsNull() && !info[4].IsUndefined();
    auto grad = with_grad ? TensorHandle::From(env, info[4], "grad") : at::Tensor();
    LCMD_CHECK(qkv.dim() == 3 && heads >= 1 && qkv.size(2) % (3 * heads) == 0, "E_SHAPE", "qkv must be [B, N, 3 hidden] with hidden divisible by heads");
    const int64_t B = qkv.size(0), N = qkv.size(1), hidden = qkv.size(2) / 3, dh = hidden / heads;
    auto out = Napi::Object::New(env);
    auto set = [&](const char* name, const at::Tensor& t) { out.Set(name, TensorHandle::Wrap(env, t.detach().to(at::kDouble))); };
    // forward (and backward with grad) of f on a leaf copy of qkv in `type`
    auto run = [&](at::ScalarType type, const std::function<at::Tensor(const at::Tensor&)>& f, const char* value, const char* gradient) {
      torch::AutoGradMode grad_mode(with_grad);
      auto leaf = qkv.detach().to(type).clone().set_requires_grad(with_grad);
      torch::manual_seed(seed);
      auto y = f(leaf);
      set(value, y);
      if (with_grad) {
        y.backward(grad.to(type));
        set(gradient, leaf.grad());
      }
    };
    auto spelled_out = [&](const at::Tensor& x, const at::Tensor& keep) {
      auto parts = x.view({B, N, 3, heads, dh}).permute({2, 0, 3, 1, 4});
      auto weights = torch::softmax(torch::matmul(parts[0], parts[1].transpose(-2, -1)) / std::sqrt(double(dh)), -1);
      if (keep.defined()) weights = weights * keep;
      else if (p > 0) weights = torch::dropout(weights, p, true);
      return torch::matmul(weights, parts[2]).transpose(1, 2).reshape({B, N, hidden});
    };
    const bool is_fused = fused::attention_is_fused(qkv);
    out.Set("fused", Napi::Boolean::New(env, is_fused));
    if (is_fused) run(qkv.scalar_type(), [&](const at::Tensor& x) { return fused::attention(x, heads, p); }, "value", "gradient");
    run(at::kFloat, [&](const at::Tensor& x) { return spelled_out(x, at::Tensor()); }, "libtorchValue", "libtorchGradient");
    at::Tensor keep;
    if (p > 0) {
      torch::manual_seed(seed);
      keep = at::empty({B, heads, N, N}, at::kFloat).bernoulli_(1.0 - p).div_(1.0 - p).to(at::kDouble);
    }
    run(at::kDouble, [&](const at::Tensor& x) { return spelled_out(x, keep.defined() ? keep : torch::ones({1}, x.options())); }, "reference",
        "referenceGradient");
    return out;
  });
}

// fusedBlock(batch, positions, hidden, heads, seed) -> {attentionFused, mlpBlocked, value, withGrad, reference}: one
// Transformer block (every weight drawn from N(0, 0.1^2) with the seed, the AdaLN modulation included) on a random
// residual stream and conditioning, in float32 without gradient (the fused attention and the row-blocked MLP),
// in float32 with gradient (libtorch's ops), and in float64 (libtorch's ops); each [batch, positions, hidden] in float64.
Napi::Value FusedBlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto arg = [&](int i) { return info[i].As<Napi::Number>().Int64Value(); };
    const int64_t B = arg(0), N = arg(1), hidden = arg(2), heads = arg(3), cond = 16;
    torch::manual_seed(static_cast<uint64_t>(arg(4)));
    TransformerBlock block(hidden, heads, 4, cond, 0.1);
    block->eval();
    torch::NoGradGuard no_grad;
    for (auto& p : block->parameters()) p.normal_(0.0, 0.1);
    const auto h = torch::randn({B, N, hidden}), y = torch::randn({B, cond});
    auto out = Napi::Object::New(env);
    // both paths decide from the device, the type and (the MLP) the row count, which the stream h shares with their inputs
    out.Set("attentionFused", Napi::Boolean::New(env, fused::attention_is_fused(h)));
    out.Set("mlpBlocked", Napi::Boolean::New(env, mlp_in_row_blocks(h)));
    out.Set("value", TensorHandle::Wrap(env, block->forward(h, y).to(at::kDouble)));
    {
      torch::AutoGradMode grad_mode(true);
      auto leaf = h.clone().set_requires_grad(true);
      out.Set("withGrad", TensorHandle::Wrap(env, block->forward(leaf, y).detach().to(at::kDouble)));
    }
    block->to(at::kDouble);
    out.Set("reference", TensorHandle::Wrap(env, block->forward(h.to(at::kDouble), y.to(at::kDouble))));
    return out;
  });
}

// counterNoiseBuilds(seed, rows, m, normal) -> {cpuPath, value, baseline}: rows streams stream_key(seed, 0, r, 0) of m
// elements, as counter_normal / counter_uniform make them (the build this CPU runs, threaded) and from the baseline
// build alone, both [rows, m] float32.
Napi::Value CounterNoiseBuilds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const auto seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
    const int64_t rows = info[1].As<Napi::Number>().Int64Value(), m = info[2].As<Napi::Number>().Int64Value();
    const bool normal = info[3].As<Napi::Boolean>().Value();
    LCMD_CHECK(rows >= 0 && m >= 0, "E_SHAPE", "rows and m must be non-negative");
    const ExampleStreams streams{seed, 0, 0, rows, 0};
    auto value = normal ? counter_normal(streams, m, at::kCPU) : counter_uniform(streams, m, at::kCPU);
    const auto keys = fused::stream_row_keys(streams);
    auto baseline = torch::empty({rows, m}, at::kFloat);
    fused::fill_counter_noise(keys.data(), m, 0, rows * m, normal, baseline.data_ptr<float>(), fused::NoiseCpuPath::kBaseline);
    auto out = Napi::Object::New(env);
    out.Set("cpuPath", Napi::String::New(env, fused::counter_noise_cpu_path()));
    out.Set("value", TensorHandle::Wrap(env, value));
    out.Set("baseline", TensorHandle::Wrap(env, baseline));
    return out;
  });
}


// fusedAdaptiveNorm(h, r | null, scale, shift, gradY, gradX | null) -> {fused, x, y, gradH, gradR, gradScale, gradShift,
// and the same names prefixed "reference"}. The fused values come from fused::residual_adaptive_norm (or
// fused::adaptive_norm when r is null) through autograd, backward with gradY at y and gradX at x; the references from
// plain libtorch ops in float64 (layer_norm, the modulation, the add) and their autograd. All returned in float64.
Napi::Value FusedAdaptiveNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const bool residual = !info[1].IsNull();
    auto h = TensorHandle::From(env, info[0], "h");
    auto r = residual ? TensorHandle::From(env, info[1], "r") : at::Tensor();
    auto scale = TensorHandle::From(env, info[2], "scale"), shift = TensorHandle::From(env, info[3], "shift");
    auto grad_y = TensorHandle::From(env, info[4], "gradY");
    auto grad_x = info[5].IsNull() ? at::Tensor() : TensorHandle::From(env, info[5], "gradX");
    LCMD_CHECK(!grad_x.defined() || residual, "E_USAGE", "gradX needs a residual r");
    torch::AutoGradMode grad_mode(true);
    auto leaf = [](const at::Tensor& t, at::ScalarType type) { return t.defined() ? t.detach().to(type).clone().set_requires_grad(true) : t; };
    auto run = [&](at::ScalarType type, bool fused) {
      auto lh = leaf(h, type), lr = leaf(r, type), la = leaf(scale, type), lb = leaf(shift, type);
      at::Tensor x, y;
      if (fused) {
        if (residual) std::tie(x, y) = fused::residual_adaptive_norm(lh, lr, la, lb, 1e-6);
        else y = fused::adaptive_norm(lh, la, lb, 1e-6);
      } else {
        x = residual ? lh + lr : lh;
        y = torch::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6) * (1 + la.unsqueeze(1)) + lb.unsqueeze(1);
      }
      std::vector<at::Tensor> outputs{y}, grads{grad_y.to(y.scalar_type())};
      if (grad_x.defined()) {
        outputs.push_back(x);
        grads.push_back(grad_x.to(x.scalar_type()));
      }
      torch::autograd::backward(outputs, grads);
      auto d = [](const at::Tensor& t) { return t.defined() ? t.detach().to(at::kDouble) : t; };
      auto o = Napi::Object::New(env);
      auto set = [&](const char* name, const at::Tensor& t) { if (t.defined()) o.Set(name, TensorHandle::Wrap(env, d(t))); };
      set("x", residual ? x : at::Tensor());
      set("y", y);
      set("gradH", lh.grad());
      set("gradR", residual ? lr.grad() : at::Tensor());
      set("gradScale", la.grad());
      set("gradShift", lb.grad());
      return o;
    };
    auto out = Napi::Object::New(env);
    out.Set("fused", Napi::Boolean::New(env, fused::adaptive_norm_is_fused(h)));
    out.Set("value", run(h.scalar_type(), true));
    out.Set("reference", run(at::kDouble, false));
    return out;
  });
}
}  // namespace

// adamwEmaStep(state, decays, options) -> {fused, params, expAvg, expAvgSq, ema, teacher?}: one AdamW step with the
// EMAs (core/train/adamw.h) on copies of the given tensors. state: {params, grads, expAvg, expAvgSq, ema, teacher?},
// arrays of Tensor handles of one length; decays: boolean[]; options: {lr, beta1, beta2, eps, weightDecay, priorSteps
// (the updates already taken, for bias correction), gradScale, emaDecay, teacherDecay, fused}. Results in float64.
Napi::Value AdamWEmaStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto state = info[0].As<Napi::Object>();
    auto decays_js = info[1].As<Napi::Array>();
    auto options = info[2].As<Napi::Object>();
    auto list = [&](const char* name) {
      std::vector<at::Tensor> out;
      if (!state.Has(name) || state.Get(name).IsUndefined()) return out;
      auto array = state.Get(name).As<Napi::Array>();
      for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(TensorHandle::From(env, array.Get(i), name).clone());
      return out;
    };
    auto number = [&](const char* name) { return options.Get(name).As<Napi::Number>().DoubleValue(); };
    auto params = list("params"), grads = list("grads"), m = list("expAvg"), v = list("expAvgSq"), ema = list("ema"), teacher = list("teacher");
    std::vector<bool> decays;
    for (uint32_t i = 0; i < decays_js.Length(); ++i) decays.push_back(decays_js.Get(i).As<Napi::Boolean>().Value());
    const size_t n = params.size();
    LCMD_CHECK(grads.size() == n && m.size() == n && v.size() == n && ema.size() == n && decays.size() == n &&
                   (teacher.empty() || teacher.size() == n),
               "E_SHAPE", "every state list needs one tensor per parameter");
    for (size_t i = 0; i < n; ++i) params[i].mutable_grad() = grads[i];
    AdamW optimizer(params, decays,
                    AdamWOptions{number("beta1"), number("beta2"), number("eps"), number("weightDecay"), options.Get("fused").As<Napi::Boolean>().Value()});
    for (size_t i = 0; i < n; ++i) {
      optimizer.exp_avg()[i].copy_(m[i]);
      optimizer.exp_avg_sq()[i].copy_(v[i]);
    }
    optimizer.set_steps(static_cast<int64_t>(number("priorSteps")));
    std::vector<EmaTarget> emas{{ema, number("emaDecay")}};
    if (!teacher.empty()) emas.push_back({teacher, number("teacherDecay")});
    optimizer.step(number("lr"), number("gradScale"), emas);
    auto wrap = [&](const std::vector<at::Tensor>& tensors) {
      auto array = Napi::Array::New(env, tensors.size());
      for (size_t i = 0; i < tensors.size(); ++i) array.Set(uint32_t(i), TensorHandle::Wrap(env, tensors[i].detach().to(at::kDouble)));
      return array;
    };
    auto out = Napi::Object::New(env);
    out.Set("fused", Napi::Boolean::New(env, optimizer.last_step_fused()));
    out.Set("params", wrap(params));
    out.Set("expAvg", wrap(optimizer.exp_avg()));
    out.Set("expAvgSq", wrap(optimizer.exp_avg_sq()));
    out.Set("ema", wrap(ema));
    if (!teacher.empty()) out.Set("teacher", wrap(teacher));
    return out;
  });
}

// fusedNoisyUpdate(z, eHat | null, streams {seed, a, first, purpose}, coefficients {coefZ, coefX, noiseStd}) ->
// {fused, value, reference}: fused::noisy_update against plain libtorch in float64 on counter_normal's noise tensor
// for the same streams (one row of z per stream). Both returned in float64.
Napi::Value FusedNoisyUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto z = TensorHandle::From(env, info[0], "z");
    auto e = info[1].IsNull() ? at::Tensor() : TensorHandle::From(env, info[1], "eHat");
    auto s = info[2].As<Napi::Object>(), k = info[3].As<Napi::Object>();
    auto number = [](const Napi::Object& o, const char* name) { return o.Get(name).As<Napi::Number>().DoubleValue(); };
    LCMD_CHECK(z.dim() >= 1, "E_SHAPE", "z needs a batch dimension");
    const ExampleStreams streams{static_cast<uint64_t>(number(s, "seed")), static_cast<uint64_t>(number(s, "a")),
                                 static_cast<int64_t>(number(s, "first")), z.size(0), static_cast<uint64_t>(number(s, "purpose"))};
    const fused::NoisyUpdateCoefficients c{static_cast<float>(number(k, "coefZ")), static_cast<float>(number(k, "coefX")),
                                           static_cast<float>(number(k, "noiseStd"))};
    auto value = fused::noisy_update(z, e, c, streams).to(at::kDouble);
    auto noise = counter_normal(streams, z.size(0) > 0 ? z.numel() / z.size(0) : 0, z.device()).to(at::kDouble).view(z.sizes());
    auto reference = z.to(at::kDouble) * double(c.coef_z) + noise * double(c.noise_std);
    if (e.defined()) reference = reference + e.to(at::kDouble) * double(c.coef_x);
    auto out = Napi::Object::New(env);
    out.Set("fused", Napi::Boolean::New(env, fused::noisy_update_is_fused(z)));
    out.Set("value", TensorHandle::Wrap(env, value));
    out.Set("reference", TensorHandle::Wrap(env, reference));
    return out;
  });
}

// fusedTokenLoss(logits [..., K], targets [...], logQ | null, direction, gradCe [...], gradKl | null, gradProbs | null) ->
// {fused, value, reference}, each {ce, kl?, probs, correct, gradLogits}: fused::token_losses and its backward with the
// given upstream gradients, against the same losses written as plain libtorch ops in float64 (log_softmax, gather,
// the KL's sum) and their autograd. direction: "teacher-student" or "student-teacher". All returned in float64.
Napi::Value FusedTokenLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto logits = TensorHandle::From(env, info[0], "logits");
    auto targets = TensorHandle::From(env, info[1], "targets").to(at::kLong);
    auto log_q = info[2].IsNull() ? at::Tensor() : TensorHandle::From(env, info[2], "logQ");
    const std::string direction = info[3].As<Napi::String>().Utf8Value();
    LCMD_CHECK(direction == "teacher-student" || direction == "student-teacher", "E_CONFIG", "direction must be teacher-student or student-teacher");
    const bool ts = direction == "teacher-student";
    auto grad_ce = TensorHandle::From(env, info[4], "gradCe");
    auto grad_kl = info[5].IsNull() ? at::Tensor() : TensorHandle::From(env, info[5], "gradKl");
    auto grad_probs = info[6].IsNull() ? at::Tensor() : TensorHandle::From(env, info[6], "gradProbs");
    torch::AutoGradMode grad_mode(true);
    auto d = [](const at::Tensor& t) { return t.detach().to(at::kDouble); };
    auto pack = [&](const at::Tensor& ce, const at::Tensor& kl, const at::Tensor& probs, const at::Tensor& correct, const at::Tensor& leaf) {
      std::vector<at::Tensor> outputs{ce}, grads{grad_ce.to(ce.scalar_type())};
      if (kl.defined() && grad_kl.defined()) outputs.push_back(kl), grads.push_back(grad_kl.to(kl.scalar_type()));
      if (grad_probs.defined()) outputs.push_back(probs), grads.push_back(grad_probs.to(probs.scalar_type()));
      torch::autograd::backward(outputs, grads);
      auto o = Napi::Object::New(env);
      o.Set("ce", TensorHandle::Wrap(env, d(ce)));
      if (kl.defined()) o.Set("kl", TensorHandle::Wrap(env, d(kl)));
      o.Set("probs", TensorHandle::Wrap(env, d(probs)));
      o.Set("correct", TensorHandle::Wrap(env, d(correct)));
      o.Set("gradLogits", TensorHandle::Wrap(env, d(leaf.grad())));
      return o;
    };
    auto leaf = logits.detach().clone().set_requires_grad(true);
    auto fused_out = fused::token_losses(leaf, targets, log_q, ts ? fused::KlDirection::kTeacherStudent : fused::KlDirection::kStudentTeacher);
    auto value = pack(fused_out.ce, fused_out.kl, fused_out.probs, fused_out.correct, leaf);
    auto ref_leaf = logits.detach().to(at::kDouble).clone().set_requires_grad(true);
    auto log_p = torch::log_softmax(ref_leaf, -1);
    auto ref_ce = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
    at::Tensor ref_kl;
    if (log_q.defined()) {
      auto q = log_q.to(at::kDouble);
      ref_kl = ts ? (q.exp() * (q - log_p)).sum(-1) : (log_p.exp() * (log_p - q)).sum(-1);
    }
    auto ref_correct = (ref_leaf.detach().argmax(-1) == targets).to(at::kDouble);
    auto reference = pack(ref_ce, ref_kl, torch::softmax(ref_leaf, -1), ref_correct, ref_leaf);
    auto out = Napi::Object::New(env);
    out.Set("fused", Napi::Boolean::New(env, fused::token_losses_are_fused(logits)));
    out.Set("value", value);
    out.Set("reference", reference);
    return out;
  });
}

// dense(x: [..., in], weight: [out, in], bias: [out] or null, grad: [..., out]) -> {onednnBuilt, onednn, value,
// noGradValue, gradX, gradWeight, gradBias?, frozenGradX, frozenWeightHasGrad, reference, referenceGradX,
// referenceGradWeight, referenceGradBias?}, each tensor in float64:
// - value, grad*: lcmd::dense with autograd on leaves x, weight and bias, backward with grad;
// - noGradValue: lcmd::dense under NoGradGuard (the forward alone);
// - frozenGradX: the input gradient with weight and bias not requiring gradients (frozenWeightHasGrad: whether the
//   weight got one anyway);
// - reference*: at::linear in float64 with autograd.
Napi::Value Dense(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto x = TensorHandle::From(env, info[0], "x");
    auto weight = TensorHandle::From(env, info[1], "weight");
    at::Tensor bias = info[2].IsNull() ? at::Tensor() : TensorHandle::From(env, info[2], "bias");
    auto grad = TensorHandle::From(env, info[3], "grad");
    torch::AutoGradMode grad_mode(true);
    auto leaf = [](const at::Tensor& t, bool requires) { return t.defined() ? t.detach().clone().set_requires_grad(requires) : t; };
    auto f64 = [](const at::Tensor& t) { return t.detach().to(at::kDouble); };
    auto out = Napi::Object::New(env);
    out.Set("onednnBuilt", Napi::Boolean::New(env, blas::onednn_built()));
    out.Set("onednn", Napi::Boolean::New(env, dense_uses_onednn(x, weight, bias)));

    auto lx = leaf(x, true), lw = leaf(weight, true), lb = leaf(bias, true);
    auto y = dense(lx, lw, lb);
    y.backward(grad.to(y.scalar_type()));
    out.Set("value", TensorHandle::Wrap(env, f64(y)));
    out.Set("gradX", TensorHandle::Wrap(env, f64(lx.grad())));
    out.Set("gradWeight", TensorHandle::Wrap(env, f64(lw.grad())));
    if (lb.defined()) out.Set("gradBias", TensorHandle::Wrap(env, f64(lb.grad())));
    {
      torch::NoGradGuard no_grad;
      out.Set("noGradValue", TensorHandle::Wrap(env, f64(dense(x, weight, bias))));
    }
    auto fx = leaf(x, true), fw = leaf(weight, false), fb = leaf(bias, false);
    dense(fx, fw, fb).backward(grad.to(x.scalar_type()));
    out.Set("frozenGradX", TensorHandle::Wrap(env, f64(fx.grad())));
    out.Set("frozenWeightHasGrad", Napi::Boolean::New(env, fw.grad().defined()));

    auto rx = leaf(x.to(at::kDouble), true), rw = leaf(weight.to(at::kDouble), true), rb = leaf(bias.defined() ? bias.to(at::kDouble) : bias, true);
    auto ry = at::linear(rx, rw, rb);
    ry.backward(grad.to(at::kDouble));
    out.Set("reference", TensorHandle::Wrap(env, f64(ry)));
    out.Set("referenceGradX", TensorHandle::Wrap(env, f64(rx.grad())));
    out.Set("referenceGradWeight", TensorHandle::Wrap(env, f64(rw.grad())));
    if (rb.defined()) out.Set("referenceGradBias", TensorHandle::Wrap(env, f64(rb.grad())));
    return out;
  });
}

void register_fused_hooks(Napi::Env env, Napi::Object exports) {
  exports.Set("fusedGelu", Napi::Function::New(env, FusedGelu));
  exports.Set("fusedAttention", Napi::Function::New(env, FusedAttention));
  exports.Set("fusedBlock", Napi::Function::New(env, FusedBlock));
  exports.Set("fusedAdaptiveNorm", Napi::Function::New(env, FusedAdaptiveNorm));
  exports.Set("adamwEmaStep", Napi::Function::New(env, AdamWEmaStep));
  exports.Set("fusedNoisyUpdate", Napi::Function::New(env, FusedNoisyUpdate));
  exports.Set("fusedTokenLoss", Napi::Function::New(env, FusedTokenLoss));
  exports.Set("counterNoiseBuilds", Napi::Function::New(env, CounterNoiseBuilds));
  exports.Set("dense", Napi::Function::New(env, Dense));
}

}  // namespace lcmd::addon
