// The sampler (core/sampler.h) on a worker thread, plus small test hooks for its pieces.
#include <cmath>

#include "addon/async_task.h"
#include "addon/denoiser_handle.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/base/device.h"
#include "core/base/error.h"
#include "core/base/sync_probe.h"
#include "core/noise/sample_noise.h"
#include "core/sample/sampler.h"
#include "core/diffusion/ancestral_step.h"
#include "core/diffusion/ddim_step.h"
#include "core/diffusion/multistep_corrector.h"
#include "core/diffusion/multistep_prediction.h"
#include "core/sample/predicted_embedding.h"

namespace lcmd::addon {

namespace {

double number_option(const Napi::Object& options, const char* key, double fallback) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined()) return fallback;
  LCMD_CHECK(v.IsNumber(), "E_TYPE", std::string("sampler option ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t integer_option(const Napi::Object& options, const char* key, double fallback, double lo, double hi) {
  const double v = number_option(options, key, fallback);
  LCMD_CHECK(std::isfinite(v) && v == std::floor(v) && v >= lo && v <= hi, "E_RANGE",
             std::string("sampler option ") + key + " must be an integer in [" + std::to_string(int64_t(lo)) + ", " +
                 std::to_string(int64_t(hi)) + "], got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

std::string string_option(const Napi::Object& options, const char* key, const std::string& fallback) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined()) return fallback;
  LCMD_CHECK(v.IsString(), "E_TYPE", std::string("sampler option ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool bool_option(const Napi::Object& options, const char* key, bool fallback) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined()) return fallback;
  LCMD_CHECK(v.IsBoolean(), "E_TYPE", std::string("sampler option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

StepRule step_rule(const std::string& name) {
  if (name == "ancestral") return StepRule::kAncestral;
  if (name == "ddim") return StepRule::kDdim;
  if (name == "consistency") return StepRule::kConsistency;
  if (name == "commit") return StepRule::kCommit;
  if (name == "maskgit") return StepRule::kMaskgit;
  fail("E_CONFIG", "sampler must be 'ancestral', 'ddim', 'consistency', 'commit' or 'maskgit', got '" + name + "'");
}

FinalRule final_rule(const std::string& name) {
  if (name == "argmax") return FinalRule::kArgmax;
  if (name == "sample") return FinalRule::kSample;
  fail("E_CONFIG", "final must be 'argmax' or 'sample', got '" + name + "'");
}

SamplerOptions parse_options(Napi::Env env, const Napi::Object& o) {
  SamplerOptions options;
  options.n = integer_option(o, "n", 1, 1, 9.0e15);
  options.steps = integer_option(o, "steps", 50, 1, 1.0e6);
  options.rule = step_rule(string_option(o, "sampler", "ancestral"));
  options.final_rule = final_rule(string_option(o, "final", "argmax"));
  options.guidance = number_option(o, "guidance", 0.0);
  options.guidance_t_min = number_option(o, "guidanceTMin", 0.0);
  options.guidance_t_max = number_option(o, "guidanceTMax", 1.0);
  options.grid_shift = number_option(o, "gridShift", 1.0);
  const auto grid = string_option(o, "timeGrid", "uniform");
  LCMD_CHECK(grid == "uniform" || grid == "learned", "E_CONFIG", "timeGrid must be 'uniform' or 'learned', got '" + grid + "'");
  options.learned_time_grid = grid == "learned";
  options.temperature = number_option(o, "temperature", 1.0);
  options.seed = static_cast<uint64_t>(integer_option(o, "seed", 0, 0, 9007199254740991.0));
  options.batch_size = integer_option(o, "batchSize", 64, 1, 9.0e15);
  options.return_probs = bool_option(o, "returnProbs", false);
  options.infill_resample = integer_option(o, "infillResample", 1, 1, 1000);
  options.maskgit_temperature = number_option(o, "maskgitTemperature", 4.5);
  options.commit_temperature = number_option(o, "commitTemperature", 0.0);
  options.solver_order = integer_option(o, "solverOrder", 1, 1, 2);
  options.corrector = bool_option(o, "corrector", false);
  if (!o.Get("classes").IsUndefined()) options.classes = TensorHandle::From(env, o.Get("classes"), "classes");
  const bool has_tokens = !o.Get("knownTokens").IsUndefined(), has_mask = !o.Get("knownMask").IsUndefined();
  LCMD_CHECK(has_tokens == has_mask, "E_CONFIG", "known tokens need both tokens and a mask");
  if (has_tokens) {
    // [H, W] (one row for every sample) or [n, H, W] -> [1 or n, N]
    auto flat = [](const at::Tensor& t) { return t.dim() == 2 ? t.reshape({1, -1}) : t.dim() == 3 ? t.reshape({t.size(0), -1}) : t; };
    options.known.tokens = flat(TensorHandle::From(env, o.Get("knownTokens"), "known tokens"));
    options.known.mask = flat(TensorHandle::From(env, o.Get("knownMask"), "the known mask"));
  }
  return options;
}

struct GridShape {
  int64_t height, width;
};

GridShape grid_shape(const Napi::Object& o, const Denoiser& denoiser) {
  const int64_t n_tokens = denoiser.num_tokens();
  GridShape grid{integer_option(o, "gridHeight", 1, 1, 1e9), integer_option(o, "gridWidth", double(n_tokens), 1, 1e9)};
  LCMD_CHECK(grid.height * grid.width == n_tokens, "E_SHAPE",
             "the grid " + std::to_string(grid.height) + " x " + std::to_string(grid.width) + " does not hold the model's " +
                 std::to_string(n_tokens) + " tokens");
  return grid;
}

// sample(model, options, token?, onProgress?) -> Promise<{tokens [n, N] int32, probs?, evaluationsPerSample, forwardCalls, forwardRows}>
Napi::Value Sample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    LCMD_CHECK(info.Length() >= 2 && info[1].IsObject(), "E_TYPE", "sample expects (model, options, token?, onProgress?)");
    auto js_options = info[1].As<Napi::Object>();
    const bool use_ema = bool_option(js_options, "useEma", true);
    auto denoiser = denoiser_from(env, info[0], use_ema);
    auto options = parse_options(env, js_options);
    const auto grid = grid_shape(js_options, *denoiser);
    return run_async<SampleResult>(
        env, info[2], info[3], {info[0].As<Napi::Object>()},
        [denoiser, options](TaskContext& ctx) { return sample(*denoiser, options, ctx); },
        [grid](Napi::Env env, SampleResult& r) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("tokens", TensorHandle::Wrap(env, r.tokens.view({r.tokens.size(0), grid.height, grid.width})));
          if (r.probs.defined()) out.Set("probs", TensorHandle::Wrap(env, r.probs));
          out.Set("evaluationsPerSample", Napi::Number::New(env, double(r.evaluations_per_sample)));
          out.Set("forwardCalls", Napi::Number::New(env, double(r.forward_calls)));
          out.Set("forwardRows", Napi::Number::New(env, double(r.forward_rows)));
          return out;
        });
  });
}

// Test hook: sampleSyncs(model, options) -> string[]: a whole sample() call, run on this thread under a SyncProbe
// (core/base/sync_probe.h), returning the host-device syncs it made.
Napi::Value SampleSyncsHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    LCMD_CHECK(info.Length() >= 2 && info[1].IsObject(), "E_TYPE", "sampleSyncs expects (model, options)");
    auto js_options = info[1].As<Napi::Object>();
    auto denoiser = denoiser_from(env, info[0], bool_option(js_options, "useEma", true));
    auto options = parse_options(env, js_options);
    SyncProbe probe;
    sample(*denoiser, options, TaskContext{});
    auto syncs = Napi::Array::New(env, probe.syncs().size());
    for (size_t i = 0; i < probe.syncs().size(); ++i) syncs.Set(uint32_t(i), probe.syncs()[i]);
    return syncs;
  });
}

// Test hooks: the pieces of one step with a schedule of shift `shift`, so tests can check them against closed forms.
StepTimes hook_times(const Napi::CallbackInfo& info, int s_arg) {
  const double s = info[s_arg].As<Napi::Number>().DoubleValue(), t = info[s_arg + 1].As<Napi::Number>().DoubleValue();
  const double shift = info[s_arg + 2].As<Napi::Number>().DoubleValue();
  LCMD_CHECK(0 <= s && s < t && t <= 1, "E_RANGE", "expected 0 <= s < t <= 1");
  return step_times(NoiseSchedule(shift), s, t);
}

// samplerAncestralStep(z, eHat, noise, s, t, shift) -> z_s
Napi::Value AncestralStepHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto z = TensorHandle::From(env, info[0], "z"), e = TensorHandle::From(env, info[1], "eHat");
    auto noise = TensorHandle::From(env, info[2], "noise");
    return TensorHandle::Wrap(env, ancestral_update(z, e, noise, hook_times(info, 3)));
  });
}

// samplerDdimStep(z, eHat, s, t, shift) -> z_s
Napi::Value DdimStepHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto z = TensorHandle::From(env, info[0], "z"), e = TensorHandle::From(env, info[1], "eHat");
    return TensorHandle::Wrap(env, ddim_step(z, e, hook_times(info, 2)));
  });
}

// samplerMultistepStep(z, eHat, eHatPrev, tPrev, s, t, shift) -> z_s: the order-2 sampler's step from t to s after a
// step that started at tPrev (the sampler's composition of multistep_prediction and ddim_step)
Napi::Value MultistepStepHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto z = TensorHandle::From(env, info[0], "z"), e = TensorHandle::From(env, info[1], "eHat");
    auto previous = TensorHandle::From(env, info[2], "eHatPrev");
    const NoiseSchedule schedule(info[6].As<Napi::Number>().DoubleValue());
    const double t_prev = info[3].As<Napi::Number>().DoubleValue(), s = info[4].As<Napi::Number>().DoubleValue(), t = info[5].As<Napi::Number>().DoubleValue();
    const double weight = multistep_weight(schedule.logsnr(t_prev), schedule.logsnr(t), schedule.logsnr(s));
    return TensorHandle::Wrap(env, ddim_step(z, multistep_prediction(e, previous, weight), hook_times(info, 4)));
  });
}

// samplerCorrectorWeights(order, tPrev, t, s, shift) -> [w_prev, w_t, w_s] (tPrev unused at order 1)
Napi::Value CorrectorWeightsHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto arg = [&](int i) { return info[i].As<Napi::Number>().DoubleValue(); };
    const NoiseSchedule schedule(arg(4));
    const int order = static_cast<int>(arg(0));
    const auto w = corrector_weights(order, order == 2 ? schedule.logsnr(arg(1)) : 0.0, schedule.logsnr(arg(2)), schedule.logsnr(arg(3)));
    auto out = Napi::Array::New(env, 3);
    out.Set(0u, w.previous);
    out.Set(1u, w.current);
    out.Set(2u, w.next);
    return out;
  });
}

// sampleNoise(seed, firstSample, count, kind, gridIndex, shape, uniform) -> [count, ...shape] float32
Napi::Value SampleNoiseHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto arg = [&](int i) { return static_cast<int64_t>(info[i].As<Napi::Number>().DoubleValue()); };
    auto kind = arg(3);
    LCMD_CHECK(kind >= 0 && kind <= 3, "E_RANGE", "noise kind must be 0 (initial), 1 (infill), 2 (ancestral) or 3 (final)");
    std::vector<int64_t> shape;
    auto js_shape = info[5].As<Napi::Array>();
    for (uint32_t i = 0; i < js_shape.Length(); ++i) shape.push_back(static_cast<int64_t>(js_shape.Get(i).As<Napi::Number>().DoubleValue()));
    // drawn on `device` (default cpu; cuda runs the CUDA kernel), returned on the CPU
    const auto device = parse_device(info.Length() > 7 && info[7].IsString() ? info[7].As<Napi::String>().Utf8Value() : "cpu");
    SampleNoise noise(static_cast<uint64_t>(arg(0)), arg(1), arg(2), device);
    const bool uniform = info[6].As<Napi::Boolean>().Value();
    auto k = static_cast<SampleNoiseKind>(kind);
    return TensorHandle::Wrap(env, (uniform ? noise.uniform(k, arg(4), shape) : noise.normal(k, arg(4), shape)).cpu());
  });
}

}  // namespace

void register_sampler(Napi::Env env, Napi::Object exports) {
  exports.Set("sample", Napi::Function::New(env, Sample));
  exports.Set("sampleSyncs", Napi::Function::New(env, SampleSyncsHook));
  exports.Set("samplerAncestralStep", Napi::Function::New(env, AncestralStepHook));
  exports.Set("samplerDdimStep", Napi::Function::New(env, DdimStepHook));
  exports.Set("samplerMultistepStep", Napi::Function::New(env, MultistepStepHook));
  exports.Set("samplerCorrectorWeights", Napi::Function::New(env, CorrectorWeightsHook));
  exports.Set("sampleNoise", Napi::Function::New(env, SampleNoiseHook));
}

}  // namespace lcmd::addon
