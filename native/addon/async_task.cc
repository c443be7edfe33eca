#include "addon/async_task.h"

#include "addon/addon_data.h"

namespace lcmd::addon {

Napi::Function CancelToken::Define(Napi::Env env) {
  return DefineClass(env, "CancelToken",
                     {InstanceMethod("cancel", &CancelToken::Cancel), InstanceMethod("isCancelled", &CancelToken::IsCancelled)});
}

CancelToken::CancelToken(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelToken>(info) {}

Napi::Value CancelToken::Cancel(const Napi::CallbackInfo& info) {
  flag_->store(true);
  return info.Env().Undefined();
}

Napi::Value CancelToken::IsCancelled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), flag_->load()); }

TaskContext make_context(Napi::Env env, Napi::Value token, Napi::Value progress, Napi::ThreadSafeFunction* tsfn_out) {
  TaskContext ctx;
  if (token.IsObject() && token.As<Napi::Object>().InstanceOf(data(env).cancel_token_class.Value())) {
    ctx.cancelled = CancelToken::Unwrap(token.As<Napi::Object>())->flag();
  }
  if (progress.IsFunction()) {
    auto tsfn = Napi::ThreadSafeFunction::New(env, progress.As<Napi::Function>(), "lcmd-progress", 0, 1);
    // The worker may outlive neither the function nor the loop: unref so a pending progress never keeps Node alive.
    tsfn.Unref(env);
    *tsfn_out = tsfn;
    ctx.progress = [tsfn](const std::string& stage, const ProgressFields& fields) mutable {
      auto* event = new ProgressEvent{stage, fields};
      auto status = tsfn.NonBlockingCall(event, [](Napi::Env env, Napi::Function fn, ProgressEvent* ev) {
        auto obj = Napi::Object::New(env);
        obj.Set("stage", Napi::String::New(env, ev->stage));
        for (const auto& [key, value] : ev->fields) obj.Set(key, Napi::Number::New(env, value));
        delete ev;
        try {
          fn.Call({obj});
        } catch (const Napi::Error&) {
          // an exception in a user's progress callback must not take the process down
        }
      });
      if (status != napi_ok) delete event;
    };
  }
  return ctx;
}

}  // namespace lcmd::addon
