#include "addon/denoiser_handle.h"

#include "addon/addon_data.h"
#include "addon/errors.h"

namespace lcmd::addon {

void register_denoiser_class(Napi::Env env, const Napi::Function& constructor, DenoiserUnwrap unwrap) {
  data(env).denoiser_classes.push_back({Napi::Persistent(constructor), unwrap});
}

DenoiserProvider* denoiser_provider(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  auto object = value.As<Napi::Object>();
  for (const auto& entry : data(env).denoiser_classes)
    if (object.InstanceOf(entry.constructor.Value())) return entry.unwrap(object);
  return nullptr;
}

std::shared_ptr<lcmd::Denoiser> denoiser_from(Napi::Env env, Napi::Value value, bool use_ema) {
  auto* provider = denoiser_provider(env, value);
  if (!provider) throw make_error(env, "E_TYPE", "expected a model (or an oracle denoiser) to sample from");
  auto denoiser = provider->denoiser(env, use_ema);
  if (!denoiser) throw make_error(env, "E_DISPOSED", "this model was disposed and can no longer be used");
  return denoiser;
}

}  // namespace lcmd::addon
