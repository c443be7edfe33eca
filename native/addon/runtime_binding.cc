// Runtime facts and knobs: libtorch version, BLAS, devices, threads, seeding, and a cancellable busy task.
#include <torch/torch.h>

#include <chrono>

#include "addon/addon_data.h"
#include "addon/async_task.h"
#include "addon/modules.h"
#include "core/base/cpu_tensor_cache.h"
#include "core/base/cuda_memory.h"
#include "core/base/runtime_info.h"
#include "core/base/threads.h"

namespace lcmd::addon {

namespace {

Napi::Value RuntimeInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&] {
    auto r = runtime_info();
    auto out = Napi::Object::New(env);
    out.Set("torchVersion", r.torch_version);
    out.Set("torchDir", r.torch_dir);
    out.Set("torchFoundVia", r.torch_via);
    auto libs = Napi::Array::New(env, r.torch_libraries.size());
    for (size_t i = 0; i < r.torch_libraries.size(); ++i) libs.Set(uint32_t(i), r.torch_libraries[i]);
    out.Set("torchLibraries", libs);
    out.Set("blasLibrary", r.blas_library);
    out.Set("blasIsReference", r.blas_is_reference);
    out.Set("onednn", r.onednn);
    out.Set("cudaCompiled", r.cuda_compiled);
    out.Set("cudaAvailable", r.cuda_available);
    auto devices = Napi::Array::New(env, r.devices.size());
    for (size_t i = 0; i < r.devices.size(); ++i) {
      auto dev = Napi::Object::New(env);
      dev.Set("index", r.devices[i].index);
      dev.Set("name", r.devices[i].name);
      dev.Set("memoryGiB", r.devices[i].memory_gib);
      devices.Set(uint32_t(i), dev);
    }
    out.Set("devices", devices);
    out.Set("threads", r.threads);
    auto pools = thread_pools();
    auto p = Napi::Object::New(env);
    p.Set("intraOp", pools.intra_op);
    p.Set("interOp", pools.inter_op);
    p.Set("openblas", pools.openblas);
    out.Set("threadPools", p);
    const auto cache = cpu_tensor_cache_stats();
    auto h = Napi::Object::New(env);
    h.Set("mode", cache.mode);
    h.Set("capacityBytes", double(cache.capacity_bytes));
    h.Set("cachedBytes", double(cache.cached_bytes));
    h.Set("hits", double(cache.hits));
    h.Set("misses", double(cache.misses));
    out.Set("heap", h);
    return out;
  });
}

// cudaMemory(device, resetPeak) -> {allocatedBytes, peakAllocatedBytes, reservedBytes}; with resetPeak the peak starts
// again from what is allocated now, after the read.
Napi::Value CudaMemoryJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&] {
    const int device = info[0].As<Napi::Number>().Int32Value();
    const auto stats = cuda_memory_stats(device);
    if (info[1].ToBoolean().Value()) reset_cuda_peak_memory(device);
    auto out = Napi::Object::New(env);
    out.Set("allocatedBytes", double(stats.allocated_bytes));
    out.Set("peakAllocatedBytes", double(stats.peak_allocated_bytes));
    out.Set("reservedBytes", double(stats.reserved_bytes));
    return out;
  });
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    set_num_threads(info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  });
}

Napi::Value NumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }

// measureGemm(size, seconds, token?) -> Promise<GFLOP/s>
Napi::Value MeasureGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int size = info[0].As<Napi::Number>().Int32Value();
  double seconds = info[1].As<Napi::Number>().DoubleValue();
  return run_async<double>(
      env, info[2], env.Undefined(), {}, [=](TaskContext&) { return measure_cpu_gemm_gflops(size, seconds); },
      [](Napi::Env env, double& gflops) { return Napi::Number::New(env, gflops); });
}

// busyWork(ms, token?, onProgress?) -> Promise<iterations>: keeps a worker thread busy with real libtorch
// work, so tests can show the event loop stays free and that cancellation stops native work promptly.
Napi::Value BusyWork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double ms = info[0].As<Napi::Number>().DoubleValue();
  return run_async<double>(
      env, info[1], info[2], {},
      [=](TaskContext& ctx) {
        torch::NoGradGuard no_grad;
        auto a = torch::randn({128, 128});
        auto start = std::chrono::steady_clock::now();
        double iterations = 0;
        while (std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() < ms) {
          ctx.throw_if_cancelled();
          a = torch::tanh(torch::mm(a, a) * 1e-2);
          iterations += 1;
          if (static_cast<int64_t>(iterations) % 64 == 0) ctx.report("busy", {{"iterations", iterations}});
        }
        return iterations;
      },
      [](Napi::Env env, double& n) { return Napi::Number::New(env, n); });
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfoJs));
  exports.Set("cudaMemory", Napi::Function::New(env, CudaMemoryJs));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads));
  exports.Set("measureGemm", Napi::Function::New(env, MeasureGemm));
  exports.Set("busyWork", Napi::Function::New(env, BusyWork));
}

}  // namespace lcmd::addon
