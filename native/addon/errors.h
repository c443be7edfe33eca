// Turns every C++ failure (lcmd::Error, c10::Error, std::exception) into a JavaScript LcmdError with a code.
#pragma once
#include <napi.h>

#include <exception>
#include <string>

namespace lcmd::addon {

// A failure captured on a worker thread, re-thrown as JS on the main thread.
struct CapturedError {
  std::string code;
  std::string message;
};

CapturedError capture(std::exception_ptr error);
Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message);
Napi::Error make_error(Napi::Env env, const CapturedError& error);

// Runs fn, converting any C++ exception into a thrown JS LcmdError.
template <class Fn>
auto guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw make_error(env, capture(std::current_exception()));
  }
}

}  // namespace lcmd::addon
