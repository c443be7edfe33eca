// Bindings for data-parallel training: create a process group (rendezvous through rank 0's TCPStore), run
// collectives on tensors, and attach a group to a Trainer. Every call that waits for other ranks runs off the
// event loop and returns a Promise.
#include <napi.h>

#include <cmath>
#include <memory>

#include "addon/addon_data.h"
#include "addon/async_task.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "addon/trainer_handle.h"
#include "core/distributed/backend.h"
#include "core/distributed/process_group.h"
#include "core/distributed/data_parallel.h"

namespace lcmd::addon {

namespace {

Napi::Value arg(const Napi::CallbackInfo& info, size_t i) { return info.Length() > i ? info[i] : info.Env().Undefined(); }

double number_field(const Napi::Object& obj, const char* key, double fallback) {
  auto v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  LCMD_CHECK(v.IsNumber(), "E_TYPE", std::string("expected a number for ") + key);
  return v.As<Napi::Number>().DoubleValue();
}

std::string string_field(const Napi::Object& obj, const char* key, const std::string& fallback) {
  auto v = obj.Get(key);
  if (v.IsUndefined()) return fallback;
  LCMD_CHECK(v.IsString(), "E_TYPE", std::string("expected a string for ") + key);
  return v.As<Napi::String>().Utf8Value();
}

int64_t integer_field(const Napi::Object& obj, const char* key, int64_t fallback) {
  double v = number_field(obj, key, double(fallback));
  LCMD_CHECK(std::isfinite(v) && v == std::floor(v), "E_TYPE", std::string("expected an integer for ") + key + ", got " + std::to_string(v));
  return int64_t(v);
}

Reduction reduction_from(const std::string& op) {
  if (op == "sum" || op == "mean") return Reduction::Sum;
  if (op == "max") return Reduction::Max;
  if (op == "min") return Reduction::Min;
  fail("E_RANGE", "expected the reduction 'sum', 'mean', 'max' or 'min', got '" + op + "'");
}

}  // namespace

// The JS `ProcessGroupHandle`.
class ProcessGroupHandle : public Napi::ObjectWrap<ProcessGroupHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessGroupHandle",
                       {
                           InstanceMethod("rank", &ProcessGroupHandle::Rank),
                           InstanceMethod("worldSize", &ProcessGroupHandle::WorldSize),
                           InstanceMethod("backend", &ProcessGroupHandle::Backend),
                           InstanceMethod("device", &ProcessGroupHandle::Device),
                           InstanceMethod("timeoutSeconds", &ProcessGroupHandle::TimeoutSeconds),
                           InstanceMethod("barrier", &ProcessGroupHandle::Barrier),
                           InstanceMethod("broadcast", &ProcessGroupHandle::Broadcast),
                           InstanceMethod("allreduce", &ProcessGroupHandle::Allreduce),
                           InstanceMethod("dispose", &ProcessGroupHandle::Dispose),
                           InstanceMethod("isDisposed", &ProcessGroupHandle::IsDisposed),
                       });
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<ProcessGroup> group) {
    auto obj = data(env).process_group_class.New({});
    Unwrap(obj)->group_ = std::move(group);
    return obj;
  }

  static std::shared_ptr<ProcessGroup> From(Napi::Env env, Napi::Value value) {
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data(env).process_group_class.Value()))
      throw make_error(env, "E_TYPE", "expected a ProcessGroup");
    return Unwrap(value.As<Napi::Object>())->live(env);
  }

  explicit ProcessGroupHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupHandle>(info) {}

 private:
  std::shared_ptr<ProcessGroup> live(Napi::Env env) const {
    if (!group_ || group_->closed()) throw make_error(env, "E_DISPOSED", "this ProcessGroup was disposed and can no longer be used");
    return group_;
  }

  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(live(info.Env())->rank())); }
  Napi::Value WorldSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(live(info.Env())->world_size())); }
  Napi::Value Backend(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), live(info.Env())->options().backend); }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), live(info.Env())->device().str()); }
  Napi::Value TimeoutSeconds(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->options().timeout_seconds);
  }

  // barrier(token?) -> Promise<void>
  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto group = live(env);
      return run_async<bool>(
          env, arg(info, 0), env.Undefined(), {info.This().As<Napi::Object>()},
          [group](TaskContext&) {
            group->barrier("a barrier");
            return true;
          },
          [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
    });
  }

  // broadcast(tensor, root, token?) -> Promise<void>: overwrites the tensor with rank root's copy
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto group = live(env);
      auto tensor = collective_tensor(env, arg(info, 0));
      LCMD_CHECK(info.Length() > 1 && info[1].IsNumber(), "E_TYPE", "expected the root rank as a number");
      int64_t root = info[1].As<Napi::Number>().Int64Value();
      return run_async<bool>(
          env, arg(info, 2), env.Undefined(), {info.This().As<Napi::Object>(), info[0].As<Napi::Object>()},
          [group, tensor, root](TaskContext&) {
            broadcast_bucketed(*group, {tensor}, root, kDefaultBucketBytes, "a broadcast from rank " + std::to_string(root));
            return true;
          },
          [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
    });
  }

  // allreduce(tensor, op: 'sum' | 'mean' | 'max' | 'min', token?) -> Promise<void>: in place
  Napi::Value Allreduce(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto group = live(env);
      auto tensor = collective_tensor(env, arg(info, 0));
      std::string op = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sum";
      auto reduction = reduction_from(op);
      LCMD_CHECK(op != "mean" || at::isFloatingType(tensor.scalar_type()), "E_DTYPE", "a 'mean' all-reduce needs a floating-point tensor");
      return run_async<bool>(
          env, arg(info, 2), env.Undefined(), {info.This().As<Napi::Object>(), info[0].As<Napi::Object>()},
          [group, tensor, reduction, op](TaskContext&) {
            torch::NoGradGuard no_grad;
            auto buffer = tensor.contiguous().to(group->device());
            group->allreduce({buffer}, reduction, "an all-reduce (" + op + ")");
            if (op == "mean") buffer.div_(double(group->world_size()));
            if (!buffer.is_same(tensor)) tensor.copy_(buffer);
            return true;
          },
          [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (group_) group_->close();
    group_.reset();
    return info.Env().Undefined();
  }

  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !group_ || group_->closed()); }

  // Any device: buffers move to the group's device and back.
  static at::Tensor collective_tensor(Napi::Env env, Napi::Value value) {
    auto tensor = TensorHandle::From(env, value, "the tensor");
    LCMD_CHECK(tensor.numel() > 0, "E_SHAPE", "collectives need a non-empty tensor");
    LCMD_CHECK(tensor.scalar_type() != at::kBool, "E_DTYPE", "collectives do not support bool tensors; use uint8");
    return tensor;
  }

  std::shared_ptr<ProcessGroup> group_;
};

namespace {

// createProcessGroup({rank, worldSize, masterAddr, masterPort, backend, device, timeoutSeconds}, token?)
//   -> Promise<ProcessGroupHandle>, once every rank has joined
Napi::Value CreateProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    LCMD_CHECK(info.Length() > 0 && info[0].IsObject(), "E_TYPE", "expected the process group options as an object");
    auto obj = info[0].As<Napi::Object>();
    DistributedOptions options;
    options.rank = integer_field(obj, "rank", 0);
    options.world_size = integer_field(obj, "worldSize", 1);
    options.master_addr = string_field(obj, "masterAddr", options.master_addr);
    options.master_port = integer_field(obj, "masterPort", options.master_port);
    options.backend = string_field(obj, "backend", options.backend);
    options.device = string_field(obj, "device", options.backend == "nccl" ? "cuda" : "cpu");
    options.timeout_seconds = number_field(obj, "timeoutSeconds", options.timeout_seconds);
    options.validate();
    require_backend(options.backend);
    return run_async<std::shared_ptr<ProcessGroup>>(
        env, arg(info, 1), env.Undefined(), {}, [options](TaskContext&) { return ProcessGroup::create(options); },
        [](Napi::Env env, std::shared_ptr<ProcessGroup>& group) -> Napi::Value { return ProcessGroupHandle::Wrap(env, group); });
  });
}

// attachProcessGroup(trainer, group | null, {bucketBytes}?, token?) -> Promise<void>. Collective: every rank calls it.
// Checks that all ranks agree, copies rank 0's state to all, and averages gradients across ranks from then on;
// null detaches.
Napi::Value AttachProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    auto trainer = TrainerHandle::From(env, arg(info, 0));
    std::shared_ptr<ProcessGroup> group;
    if (!arg(info, 1).IsNull() && !arg(info, 1).IsUndefined()) group = ProcessGroupHandle::From(env, info[1]);
    int64_t bucket_bytes = kDefaultBucketBytes;
    if (arg(info, 2).IsObject()) bucket_bytes = integer_field(info[2].As<Napi::Object>(), "bucketBytes", bucket_bytes);
    LCMD_CHECK(bucket_bytes >= 1024, "E_RANGE", "bucketBytes must be at least 1024, got " + std::to_string(bucket_bytes));
    std::vector<Napi::Object> keep{info[0].As<Napi::Object>()};
    if (group) keep.push_back(info[1].As<Napi::Object>());
    return run_async<bool>(
        env, arg(info, 3), env.Undefined(), keep,
        [trainer, group, bucket_bytes](TaskContext&) {
          std::lock_guard<std::mutex> lock(*trainer->lock);
          if (group)
            attach_process_group(*trainer->trainer, group, bucket_bytes);
          else
            detach_process_group(*trainer->trainer);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

// distributedBackends() -> {gloo, nccl}: which backends this build can create
Napi::Value DistributedBackends(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  out.Set("gloo", backend_available("gloo"));
  out.Set("nccl", backend_available("nccl"));
  return out;
}

}  // namespace

void register_distributed(Napi::Env env, Napi::Object exports) {
  auto cls = ProcessGroupHandle::Define(env);
  data(env).process_group_class = Napi::Persistent(cls);
  exports.Set("ProcessGroupHandle", cls);
  exports.Set("createProcessGroup", Napi::Function::New(env, CreateProcessGroup));
  exports.Set("attachProcessGroup", Napi::Function::New(env, AttachProcessGroup));
  exports.Set("distributedBackends", Napi::Function::New(env, DistributedBackends));
}

}  // namespace lcmd::addon
