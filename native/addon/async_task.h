// The shared machinery for long native calls: run on the libuv pool, resolve a Promise, stream progress
// through a thread-safe function, and stop early when the JS AbortSignal fires (through a CancelToken).
//
// Usage in a binding:
//   return run_async(info, /*token arg*/ 1, /*progress arg*/ 2, hold_refs,
//     [=](lcmd::TaskContext& ctx) { ...core work...; return result; },
//     [](Napi::Env env, Result& r) { return to_js(env, r); });
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "addon/errors.h"
#include "core/base/task_context.h"

namespace lcmd::addon {

// A JS-visible flag that an AbortSignal listener sets; native work polls it between steps.
class CancelToken : public Napi::ObjectWrap<CancelToken> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CancelToken(const Napi::CallbackInfo& info);
  std::shared_ptr<std::atomic<bool>> flag() const { return flag_; }

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value IsCancelled(const Napi::CallbackInfo& info);
  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
};

struct ProgressEvent {
  std::string stage;
  ProgressFields fields;
};

template <class Result>
class AsyncTask : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result(TaskContext&)>;
  using ToJs = std::function<Napi::Value(Napi::Env, Result&)>;

  AsyncTask(Napi::Env env, Work work, ToJs to_js, TaskContext ctx, std::vector<Napi::Object> keep_alive)
      : Napi::AsyncWorker(env, "lcmd"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        to_js_(std::move(to_js)),
        ctx_(std::move(ctx)) {
    // Objects the work touches stay alive (and undisposed by GC) until it completes.
    for (auto& obj : keep_alive) refs_.push_back(Napi::Persistent(obj));
  }

  Napi::Promise promise() { return deferred_.Promise(); }
  void set_progress(Napi::ThreadSafeFunction tsfn) { progress_ = tsfn; }

 protected:
  void Execute() override {
    try {
      result_.emplace(work_(ctx_));
    } catch (...) {
      error_ = capture(std::current_exception());
    }
  }

  void OnOK() override {
    release_progress();
    Napi::Env env = Env();
    if (error_) {
      deferred_.Reject(make_error(env, *error_).Value());
      return;
    }
    try {
      deferred_.Resolve(to_js_(env, *result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(make_error(env, capture(std::current_exception())).Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    release_progress();
    deferred_.Reject(e.Value());
  }

 private:
  void release_progress() {
    if (progress_) {
      progress_.Release();
      progress_ = Napi::ThreadSafeFunction();
    }
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  ToJs to_js_;
  TaskContext ctx_;
  std::vector<Napi::ObjectReference> refs_;
  std::optional<Result> result_;
  std::optional<CapturedError> error_;
  Napi::ThreadSafeFunction progress_;
};

// Builds a TaskContext from an optional CancelToken and an optional progress callback (JS function).
TaskContext make_context(Napi::Env env, Napi::Value token, Napi::Value progress, Napi::ThreadSafeFunction* tsfn_out);

template <class Result>
Napi::Promise run_async(Napi::Env env, Napi::Value token, Napi::Value progress, std::vector<Napi::Object> keep_alive,
                        typename AsyncTask<Result>::Work work, typename AsyncTask<Result>::ToJs to_js) {
  Napi::ThreadSafeFunction tsfn;
  TaskContext ctx = make_context(env, token, progress, &tsfn);
  auto* task = new AsyncTask<Result>(env, std::move(work), std::move(to_js), std::move(ctx), std::move(keep_alive));
  if (tsfn) task->set_progress(tsfn);
  auto promise = task->promise();
  task->Queue();
  return promise;
}

}  // namespace lcmd::addon
