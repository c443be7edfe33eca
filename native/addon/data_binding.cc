// Data files and datasets: safetensors read/write, .npy read/write/info, and the token dataset class.
#include <torch/torch.h>

#include <optional>

#include "addon/addon_data.h"
#include "addon/async_task.h"
#include "addon/errors.h"
#include "addon/modules.h"
#include "addon/tensor_handle.h"
#include "core/base/error.h"
#include "core/formats/npy.h"
#include "core/formats/safetensors.h"
#include "core/data/token_dataset.h"

namespace lcmd::addon {

namespace {

std::string string_arg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsString())
    throw make_error(info.Env(), "E_TYPE", std::string("expected a string for ") + what);
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Object metadata_to_js(Napi::Env env, const std::map<std::string, std::string>& metadata) {
  auto out = Napi::Object::New(env);
  for (const auto& [k, v] : metadata) out.Set(k, Napi::String::New(env, v));
  return out;
}

// saveSafetensors(path, names: string[], tensors: TensorHandle[], metadata: {[k]: string}) -> Promise<void>
Napi::Value SaveSafetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::string path = string_arg(info, 0, "path");
    LCMD_CHECK(info.Length() >= 4 && info[1].IsArray() && info[2].IsArray() && info[3].IsObject(), "E_TYPE",
               "saveSafetensors expects (path, names, tensors, metadata)");
    auto names = info[1].As<Napi::Array>();
    auto handles = info[2].As<Napi::Array>();
    LCMD_CHECK(names.Length() == handles.Length(), "E_USAGE", "saveSafetensors got a different number of names and tensors");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (uint32_t i = 0; i < names.Length(); ++i) {
      Napi::Value name = names.Get(i);
      LCMD_CHECK(name.IsString(), "E_TYPE", "tensor names must be strings");
      std::string key = name.As<Napi::String>().Utf8Value();
      tensors.emplace_back(key, TensorHandle::From(env, handles.Get(i), key.c_str()));
    }
    std::map<std::string, std::string> metadata;
    auto meta = info[3].As<Napi::Object>();
    auto keys = meta.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
      Napi::Value value = meta.Get(key);
      LCMD_CHECK(value.IsString(), "E_TYPE", "metadata value '" + key + "' must be a string");
      metadata[key] = value.As<Napi::String>().Utf8Value();
    }
    return run_async<bool>(
        env, env.Undefined(), env.Undefined(), {},
        [=](TaskContext&) {
          save_safetensors(path, tensors, metadata);
          return true;
        },
        [](Napi::Env env, bool&) { return env.Undefined(); });
  });
}

// loadSafetensors(path) -> Promise<{tensors: {[name]: TensorHandle}, metadata: {[k]: string}}>
Napi::Value LoadSafetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::string path = string_arg(info, 0, "path");
    return run_async<SafetensorsFile>(
        env, env.Undefined(), env.Undefined(), {}, [=](TaskContext&) { return load_safetensors(path); },
        [](Napi::Env env, SafetensorsFile& file) -> Napi::Value {
          auto out = Napi::Object::New(env);
          auto tensors = Napi::Object::New(env);
          for (const auto& [name, t] : file.tensors) tensors.Set(name, TensorHandle::Wrap(env, t));
          out.Set("tensors", tensors);
          out.Set("metadata", metadata_to_js(env, file.metadata));
          return out;
        });
  });
}

// readSafetensorsMetadata(path) -> {[k]: string}; reads only the header.
Napi::Value ReadSafetensorsMetadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value { return metadata_to_js(env, read_safetensors_metadata(string_arg(info, 0, "path"))); });
}


Napi::Array shape_to_js(Napi::Env env, const std::vector<int64_t>& shape) {
  auto out = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) out.Set(uint32_t(i), Napi::Number::New(env, double(shape[i])));
  return out;
}

// npyInfo(path) -> {dtype, shape, version, dataOffset}; validates the header and the file size.
Napi::Value NpyInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    NpyArray array(string_arg(info, 0, "path"));
    const auto& h = array.header();
    auto out = Napi::Object::New(env);
    out.Set("dtype", npy_dtype_name(h.dtype));
    out.Set("shape", shape_to_js(env, h.shape));
    out.Set("version", Napi::Number::New(env, h.version_major));
    out.Set("dataOffset", Napi::Number::New(env, double(h.data_offset)));
    return out;
  });
}

struct NpyRead {
  at::Tensor tensor;
  std::string stored;
};

// readNpy(path) -> Promise<{tensor: TensorHandle, stored: npy dtype name}>
Napi::Value ReadNpy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::string path = string_arg(info, 0, "path");
    return run_async<NpyRead>(
        env, env.Undefined(), env.Undefined(), {},
        [=](TaskContext&) {
          std::string stored = npy_dtype_name(NpyArray(path).header().dtype);
          return NpyRead{read_npy(path), stored};
        },
        [](Napi::Env env, NpyRead& r) -> Napi::Value {
          auto out = Napi::Object::New(env);
          out.Set("tensor", TensorHandle::Wrap(env, r.tensor));
          out.Set("stored", r.stored);
          return out;
        });
  });
}

// writeNpy(path, tensor, as?: npy dtype name) -> Promise<void>
Napi::Value WriteNpy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::string path = string_arg(info, 0, "path");
    at::Tensor tensor = TensorHandle::From(env, info[1], "tensor");
    std::optional<NpyDType> as;
    if (info.Length() > 2 && info[2].IsString()) as = npy_dtype_from_name(info[2].As<Napi::String>().Utf8Value());
    return run_async<bool>(
        env, env.Undefined(), env.Undefined(), {},
        [=](TaskContext&) {
          if (as) write_npy(path, tensor, *as);
          else write_npy(path, tensor);
          return true;
        },
        [](Napi::Env env, bool&) { return env.Undefined(); });
  });
}

double number_field(Napi::Object options, const char* key, double fallback) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  LCMD_CHECK(v.IsNumber(), "E_TYPE", std::string("dataset option ") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  LCMD_CHECK(d == static_cast<double>(static_cast<int64_t>(d)) && d >= 0 && d <= 9007199254740991.0, "E_RANGE",
             std::string("dataset option ") + key + " must be a non-negative integer, got " + std::to_string(d));
  return d;
}

TokenDatasetOptions dataset_options(Napi::Value value) {
  LCMD_CHECK(value.IsObject(), "E_TYPE", "expected an options object for the dataset");
  auto o = value.As<Napi::Object>();
  TokenDatasetOptions opts;
  opts.batch_size = static_cast<int64_t>(number_field(o, "batchSize", 0));
  opts.seed = static_cast<uint64_t>(number_field(o, "seed", 0));
  opts.heldout = static_cast<int64_t>(number_field(o, "heldout", 0));
  opts.rank = static_cast<int>(number_field(o, "rank", 0));
  opts.world_size = static_cast<int>(number_field(o, "worldSize", 1));
  opts.vocab_size = static_cast<int64_t>(number_field(o, "vocabSize", 0));
  opts.num_classes = static_cast<int64_t>(number_field(o, "numClasses", 0));
  opts.prefetch = static_cast<int>(number_field(o, "prefetch", 2));
  return opts;
}

Napi::Object batch_to_js(Napi::Env env, const TokenBatch& batch) {
  auto out = Napi::Object::New(env);
  out.Set("tokens", TensorHandle::Wrap(env, batch.tokens));
  if (batch.labels.defined()) out.Set("labels", TensorHandle::Wrap(env, batch.labels));
  out.Set("epoch", Napi::Number::New(env, double(batch.position.epoch)));
  out.Set("step", Napi::Number::New(env, double(batch.position.step)));
  return out;
}

// The JS face of a TokenDataset. The core object is shared with in-flight next() calls, so dispose() while one
// waits wakes it with E_DISPOSED instead of freeing memory under it.
class DatasetHandle : public Napi::ObjectWrap<DatasetHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TokenDatasetHandle",
                       {
                           InstanceMethod("next", &DatasetHandle::Next),
                           InstanceMethod("position", &DatasetHandle::Position),
                           InstanceMethod("seek", &DatasetHandle::Seek),
                           InstanceMethod("info", &DatasetHandle::Info),
                           InstanceMethod("heldoutBatchCount", &DatasetHandle::HeldoutBatchCount),
                           InstanceMethod("heldoutBatch", &DatasetHandle::HeldoutBatch),
                           InstanceMethod("dispose", &DatasetHandle::Dispose),
                       });
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<TokenDataset> dataset) {
    auto obj = data(env).dataset_class.New({});
    Unwrap(obj)->dataset_ = std::move(dataset);
    return obj;
  }

  explicit DatasetHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DatasetHandle>(info) {}
  ~DatasetHandle() override {
    if (dataset_) dataset_->close();
  }

 private:
  std::shared_ptr<TokenDataset> live(Napi::Env env) const {
    if (!dataset_) throw make_error(env, "E_DISPOSED", "this dataset was disposed and can no longer be used");
    return dataset_;
  }

  Napi::Value Next(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto dataset = live(env);
      return run_async<TokenBatch>(
          env, env.Undefined(), env.Undefined(), {Value()}, [dataset](TaskContext&) { return dataset->next(); },
          [](Napi::Env env, TokenBatch& batch) -> Napi::Value { return batch_to_js(env, batch); });
    });
  }

  Napi::Value Position(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto p = live(env)->position();
      auto out = Napi::Object::New(env);
      out.Set("epoch", Napi::Number::New(env, double(p.epoch)));
      out.Set("step", Napi::Number::New(env, double(p.step)));
      return out;
    });
  }

  Napi::Value Seek(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      LCMD_CHECK(info.Length() >= 2 && info[0].IsNumber() && info[1].IsNumber(), "E_TYPE", "seek expects (epoch, step)");
      live(env)->seek({info[0].As<Napi::Number>().Int64Value(), info[1].As<Napi::Number>().Int64Value()});
      return env.Undefined();
    });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto d = live(env);
      auto out = Napi::Object::New(env);
      out.Set("size", Napi::Number::New(env, double(d->size())));
      out.Set("trainSize", Napi::Number::New(env, double(d->train_size())));
      out.Set("heldoutSize", Napi::Number::New(env, double(d->heldout_size())));
      out.Set("stepsPerEpoch", Napi::Number::New(env, double(d->steps_per_epoch())));
      out.Set("localBatchSize", Napi::Number::New(env, double(d->local_batch_size())));
      out.Set("sequenceLength", Napi::Number::New(env, double(d->sequence_length())));
      out.Set("gridShape", shape_to_js(env, d->grid_shape()));
      out.Set("maxToken", Napi::Number::New(env, double(d->max_token())));
      out.Set("hasLabels", Napi::Boolean::New(env, d->has_labels()));
      if (d->has_labels()) out.Set("maxLabel", Napi::Number::New(env, double(d->max_label())));
      return out;
    });
  }

  Napi::Value HeldoutBatchCount(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      LCMD_CHECK(info.Length() >= 1 && info[0].IsNumber(), "E_TYPE", "heldoutBatchCount expects a batch size");
      return Napi::Number::New(env, double(live(env)->heldout_batch_count(info[0].As<Napi::Number>().Int64Value())));
    });
  }

  Napi::Value HeldoutBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      LCMD_CHECK(info.Length() >= 2 && info[0].IsNumber() && info[1].IsNumber(), "E_TYPE", "heldoutBatch expects (index, batchSize)");
      auto batch = live(env)->heldout_batch(info[0].As<Napi::Number>().Int64Value(), info[1].As<Napi::Number>().Int64Value());
      return batch_to_js(env, batch);
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (dataset_) {
      dataset_->close();
      dataset_.reset();
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<TokenDataset> dataset_;
};

// openTokenDataset(tokensPath, labelsPath | undefined, options) -> Promise<TokenDatasetHandle>
Napi::Value OpenTokenDataset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    std::string tokens = string_arg(info, 0, "the tokens path");
    std::optional<std::string> labels;
    if (info.Length() > 1 && info[1].IsString()) labels = info[1].As<Napi::String>().Utf8Value();
    auto options = dataset_options(info[2]);
    return run_async<std::shared_ptr<TokenDataset>>(
        env, env.Undefined(), env.Undefined(), {},
        [=](TaskContext&) {
          std::optional<IntegerRows> label_rows;
          if (labels) label_rows = IntegerRows::from_npy(*labels);
          return std::make_shared<TokenDataset>(IntegerRows::from_npy(tokens), std::move(label_rows), options);
        },
        [](Napi::Env env, std::shared_ptr<TokenDataset>& d) -> Napi::Value { return DatasetHandle::Wrap(env, d); });
  });
}

// tokenDatasetFromTensors(tokens, labels | undefined, options) -> Promise<TokenDatasetHandle>
Napi::Value TokenDatasetFromTensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    at::Tensor tokens = TensorHandle::From(env, info[0], "tokens");
    at::Tensor labels;
    if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) labels = TensorHandle::From(env, info[1], "labels");
    auto options = dataset_options(info[2]);
    return run_async<std::shared_ptr<TokenDataset>>(
        env, env.Undefined(), env.Undefined(), {},
        [=](TaskContext&) {
          std::optional<IntegerRows> label_rows;
          if (labels.defined()) label_rows = IntegerRows::from_tensor(labels, "labels");
          return std::make_shared<TokenDataset>(IntegerRows::from_tensor(tokens, "tokens"), std::move(label_rows), options);
        },
        [](Napi::Env env, std::shared_ptr<TokenDataset>& d) -> Napi::Value { return DatasetHandle::Wrap(env, d); });
  });
}
}  // namespace

void register_data(Napi::Env env, Napi::Object exports) {
  exports.Set("saveSafetensors", Napi::Function::New(env, SaveSafetensors));
  exports.Set("loadSafetensors", Napi::Function::New(env, LoadSafetensors));
  exports.Set("readSafetensorsMetadata", Napi::Function::New(env, ReadSafetensorsMetadata));
  exports.Set("npyInfo", Napi::Function::New(env, NpyInfo));
  exports.Set("readNpy", Napi::Function::New(env, ReadNpy));
  exports.Set("writeNpy", Napi::Function::New(env, WriteNpy));
  data(env).dataset_class = Napi::Persistent(DatasetHandle::Define(env));
  exports.Set("openTokenDataset", Napi::Function::New(env, OpenTokenDataset));
  exports.Set("tokenDatasetFromTensors", Napi::Function::New(env, TokenDatasetFromTensors));
}

}  // namespace lcmd::addon
