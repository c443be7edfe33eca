#include "addon/tensor_handle.h"

#include <cstring>

#include "addon/addon_data.h"
#include "addon/errors.h"
#include "core/base/error.h"

namespace lcmd::addon {

namespace {

struct DTypeSpec {
  const char* name;
  at::ScalarType type;
  napi_typedarray_type array;  // what toTypedArray returns; half types read back as float32
};

const DTypeSpec kDTypes[] = {
    {"float32", at::kFloat, napi_float32_array}, {"float64", at::kDouble, napi_float64_array},
    {"int64", at::kLong, napi_bigint64_array},   {"int32", at::kInt, napi_int32_array},
    {"int16", at::kShort, napi_int16_array},     {"uint8", at::kByte, napi_uint8_array},
    {"bool", at::kBool, napi_uint8_array},       {"bfloat16", at::kBFloat16, napi_float32_array},
    {"float16", at::kHalf, napi_float32_array},
};

const DTypeSpec& spec_of(at::ScalarType type) {
  for (const auto& spec : kDTypes)
    if (spec.type == type) return spec;
  fail("E_DTYPE", std::string("unsupported tensor dtype ") + c10::toString(type));
}

const char* array_name(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_int32_array: return "Int32Array";
    case napi_int16_array: return "Int16Array";
    case napi_uint8_array: return "Uint8Array";
    default: return "another TypedArray";
  }
}

// Storage dtype of the data as it arrives from JS (half types arrive as float32).
at::ScalarType transport_type(at::ScalarType type) {
  return (type == at::kBFloat16 || type == at::kHalf) ? at::kFloat : (type == at::kBool ? at::kByte : type);
}

}  // namespace

std::string dtype_name(at::ScalarType type) { return spec_of(type).name; }

at::ScalarType dtype_from_name(const std::string& name) {
  for (const auto& spec : kDTypes)
    if (name == spec.name) return spec.type;
  fail("E_DTYPE", "unknown dtype '" + name +
                      "': expected one of float32, float64, int64, int32, int16, uint8, bool, bfloat16, float16");
}

Napi::Function TensorHandle::Define(Napi::Env env) {
  return DefineClass(env, "TensorHandle",
                     {
                         InstanceMethod("shape", &TensorHandle::Shape),
                         InstanceMethod("dtype", &TensorHandle::DType),
                         InstanceMethod("device", &TensorHandle::Device),
                         InstanceMethod("toTypedArray", &TensorHandle::ToTypedArray),
                         InstanceMethod("to", &TensorHandle::To),
                         InstanceMethod("dispose", &TensorHandle::Dispose),
                         InstanceMethod("isDisposed", &TensorHandle::IsDisposed),
                         InstanceMethod("byteLength", &TensorHandle::ByteLength),
                     });
}

// new TensorHandle(typedArray, shape: number[], dtype: string) copies the data into a new CPU tensor.
// new TensorHandle() with no arguments creates an empty handle for Wrap().
TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() == 0) return;
  guard(env, [&] {
    LCMD_CHECK(info.Length() == 3 && info[0].IsTypedArray() && info[1].IsArray() && info[2].IsString(), "E_TYPE",
               "TensorHandle expects (typedArray, shape, dtype)");
    auto array = info[0].As<Napi::TypedArray>();
    auto shape_js = info[1].As<Napi::Array>();
    auto type = dtype_from_name(info[2].As<Napi::String>().Utf8Value());
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (uint32_t i = 0; i < shape_js.Length(); ++i) {
      Napi::Value dim = shape_js.Get(i);
      LCMD_CHECK(dim.IsNumber(), "E_SHAPE", "shape entries must be non-negative integers");
      double d = dim.As<Napi::Number>().DoubleValue();
      LCMD_CHECK(d >= 0 && d == static_cast<int64_t>(d) && d < 9.0e15, "E_SHAPE",
                 "shape entries must be non-negative integers, got " + std::to_string(d));
      shape.push_back(static_cast<int64_t>(d));
      numel *= shape.back();
    }
    const auto& spec = spec_of(type);
    LCMD_CHECK(array.TypedArrayType() == spec.array, "E_DTYPE",
               std::string("expected a ") + array_name(spec.array) + " for dtype " + spec.name + ", got " +
                   array_name(array.TypedArrayType()));
    LCMD_CHECK(static_cast<int64_t>(array.ElementLength()) == numel, "E_SHAPE",
               "expected " + std::to_string(numel) + " elements for shape, got " + std::to_string(array.ElementLength()));
    auto* bytes = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    auto source = torch::from_blob(bytes, shape, at::TensorOptions().dtype(transport_type(type)));
    adopt(env, source.to(type, /*non_blocking=*/false, /*copy=*/true));
  });
}

Napi::Object TensorHandle::Wrap(Napi::Env env, const at::Tensor& tensor) {
  auto obj = data(env).tensor_class.New({});
  Unwrap(obj)->adopt(env, tensor);
  return obj;
}

at::Tensor TensorHandle::From(Napi::Env env, Napi::Value value, const char* what) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data(env).tensor_class.Value()))
    throw make_error(env, "E_TYPE", std::string("expected a Tensor for ") + what);
  return Unwrap(value.As<Napi::Object>())->live(env);
}

void TensorHandle::adopt(Napi::Env env, at::Tensor tensor) {
  release(env);
  tensor_ = std::move(tensor);
  disposed_ = false;
  if (tensor_.device().is_cpu()) {
    reported_bytes_ = static_cast<int64_t>(tensor_.numel() * tensor_.element_size());
    Napi::MemoryManagement::AdjustExternalMemory(env, reported_bytes_);
  }
}

void TensorHandle::release(Napi::Env env) {
  if (reported_bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, -reported_bytes_);
  reported_bytes_ = 0;
  tensor_ = at::Tensor();
}

const at::Tensor& TensorHandle::live(Napi::Env env) const {
  if (disposed_) throw make_error(env, "E_DISPOSED", "this Tensor was disposed and can no longer be used");
  if (!tensor_.defined()) throw make_error(env, "E_DISPOSED", "this Tensor holds no data");
  return tensor_;
}

void TensorHandle::Finalize(Napi::Env env) { release(env); }

Napi::Value TensorHandle::Shape(const Napi::CallbackInfo& info) {
  const auto& t = live(info.Env());
  auto out = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) out.Set(uint32_t(i), Napi::Number::New(info.Env(), double(t.size(i))));
  return out;
}

Napi::Value TensorHandle::DType(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return Napi::String::New(info.Env(), dtype_name(live(info.Env()).scalar_type())); });
}

Napi::Value TensorHandle::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), live(info.Env()).device().str());
}

Napi::Value TensorHandle::ToTypedArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const auto& t = live(env);
    const auto& spec = spec_of(t.scalar_type());
    auto host = t.to(at::kCPU).to(transport_type(t.scalar_type())).contiguous();
    size_t bytes = host.numel() * host.element_size();
    auto buffer = Napi::ArrayBuffer::New(env, bytes);
    if (bytes) std::memcpy(buffer.Data(), host.data_ptr(), bytes);
    napi_value array;
    NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, spec.array, size_t(host.numel()), buffer, 0, &array),
                         Napi::Value());
    return Napi::Value(env, array);
  });
}

Napi::Value TensorHandle::To(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    LCMD_CHECK(info.Length() >= 1 && info[0].IsString(), "E_TYPE", "to() expects a device string such as 'cpu' or 'cuda:0'");
    std::string device_str = info[0].As<Napi::String>().Utf8Value();
    c10::Device device(device_str);
    LCMD_CHECK(!device.is_cuda() || torch::cuda::is_available(), "E_DEVICE",
               "device '" + device_str + "' requested but CUDA is not available in this libtorch build or machine");
    return Wrap(env, live(env).to(device, false, true));
  });
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  if (!disposed_) {
    release(info.Env());
    disposed_ = true;
  }
  return info.Env().Undefined();
}

Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

Napi::Value TensorHandle::ByteLength(const Napi::CallbackInfo& info) {
  const auto& t = live(info.Env());
  return Napi::Number::New(info.Env(), double(t.numel() * t.element_size()));
}

}  // namespace lcmd::addon
