// The native side of lcmd's typed Tensor: owns one at::Tensor, copies data across the boundary,
// reports its memory to V8 and refuses use after dispose().
#pragma once
#include <napi.h>
#include <torch/torch.h>

namespace lcmd::addon {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps a tensor produced by native code into a new JS handle (takes a reference, no copy).
  static Napi::Object Wrap(Napi::Env env, const at::Tensor& tensor);
  // The tensor behind a JS handle; throws E_TYPE / E_DISPOSED as appropriate.
  static at::Tensor From(Napi::Env env, Napi::Value value, const char* what);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  void Finalize(Napi::Env env) override;

 private:
  void adopt(Napi::Env env, at::Tensor tensor);
  void release(Napi::Env env);
  const at::Tensor& live(Napi::Env env) const;

  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DType(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value ToTypedArray(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value ByteLength(const Napi::CallbackInfo& info);

  at::Tensor tensor_;
  bool disposed_ = false;
  int64_t reported_bytes_ = 0;
};

// dtype names as JavaScript spells them
std::string dtype_name(at::ScalarType type);
at::ScalarType dtype_from_name(const std::string& name);

}  // namespace lcmd::addon
