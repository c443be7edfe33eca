// How the sampler binding gets a lcmd::Denoiser from a JS object (the trained model, the test oracle, ...).
//
// Contract:
//  - A JS class whose objects can denoise is a Napi::ObjectWrap that also derives from DenoiserProvider and
//    implements denoiser(env, use_ema): return the core Denoiser to sample with (the EMA weights when use_ema and the
//    object has them; a provider without EMA ignores the flag). Throw E_DISPOSED (via make_error) once disposed.
//    The returned shared_ptr keeps the core object alive for the whole sampling call, even if JS disposes the
//    handle meanwhile, so dispose() never frees memory a running sampler uses.
//  - Its register_xxx function calls register_denoiser_class<TheWrap>(env, constructor) once, after DefineClass.
//  - denoiser_from(env, value, use_ema) accepts an instance of any registered class and throws E_TYPE otherwise.
// Adding a new provider therefore takes: one base class, one override, one registration line.
#pragma once
#include <napi.h>

#include <memory>

#include "addon/addon_data.h"
#include "core/sample/denoiser.h"

namespace lcmd::addon {

class DenoiserProvider {
 public:
  virtual ~DenoiserProvider() = default;
  virtual std::shared_ptr<lcmd::Denoiser> denoiser(Napi::Env env, bool use_ema) = 0;
};

using DenoiserUnwrap = decltype(DenoiserClass::unwrap);

void register_denoiser_class(Napi::Env env, const Napi::Function& constructor, DenoiserUnwrap unwrap);

template <class Wrap>
void register_denoiser_class(Napi::Env env, const Napi::Function& constructor) {
  register_denoiser_class(env, constructor, [](Napi::Object object) -> DenoiserProvider* { return Wrap::Unwrap(object); });
}

// The provider behind a JS object, or nullptr when it is not an instance of a registered class.
DenoiserProvider* denoiser_provider(Napi::Env env, Napi::Value value);

// The Denoiser behind a JS object; throws E_TYPE for anything that is not a registered provider.
std::shared_ptr<lcmd::Denoiser> denoiser_from(Napi::Env env, Napi::Value value, bool use_ema);

}  // namespace lcmd::addon
