#include "addon/errors.h"

#include <torch/torch.h>

#include "addon/addon_data.h"
#include "core/base/error.h"

namespace lcmd::addon {

namespace {

// c10 messages end with a C++ backtrace that means nothing to a user; keep the first paragraph.
std::string first_part(const std::string& what) {
  auto cut = what.find("\nException raised from");
  return cut == std::string::npos ? what : what.substr(0, cut);
}

}  // namespace

CapturedError capture(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const lcmd::Error& e) {
    return {e.code(), e.what()};
  } catch (const c10::Error& e) {
    return {"E_NATIVE", "libtorch: " + first_part(e.what_without_backtrace())};
  } catch (const std::bad_alloc&) {
    return {"E_MEMORY", "out of memory: reduce the batch size or the model size"};
  } catch (const std::exception& e) {
    return {"E_NATIVE", e.what()};
  } catch (...) {
    return {"E_NATIVE", "unknown native error"};
  }
}

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  auto& cls = data(env).error_class;
  if (cls.IsEmpty()) {
    auto err = Napi::Error::New(env, message);
    err.Set("code", Napi::String::New(env, code));
    return err;
  }
  auto value = cls.New({Napi::String::New(env, message), Napi::String::New(env, code)});
  return Napi::Error(env, value);
}

Napi::Error make_error(Napi::Env env, const CapturedError& error) { return make_error(env, error.code, error.message); }

}  // namespace lcmd::addon
