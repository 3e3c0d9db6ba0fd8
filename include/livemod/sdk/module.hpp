// File: livemod/sdk/module.hpp
//
// The C++ face of the module ABI (livemod/sdk/module.h): write entry points as ordinary C++
// functions that may throw, and let a macro define the `extern "C"` noexcept symbol the host
// calls. Nothing throws across the C boundary: an escaping exception becomes a return code.
//
//   #include <livemod/sdk/module.hpp>
//   static void load(livemod::sdk::host& host) {            // may throw
//     if (!read_config()) throw livemod::sdk::failure(LIVEMOD_E_FAILED, "no config file");
//     if (host.dependency("math") == livemod::sdk::host::dependency_state::absent) ...
//     host.log(LIVEMOD_LOG_INFO, "calculator ready");
//   }
//   LIVEMOD_ON_LOAD(calculator_on_load, load);               // the manifest's entry_points.on_load
//   LIVEMOD_ON_UNLOAD(calculator_on_unload, [] { flush(); });
//
// What the generated on_load does, in order:
//   1. negotiates the ABI: a host requesting another version than LIVEMOD_ABI_VERSION gets
//      -LIVEMOD_E_ABI and a log line naming both versions; the author's function is not called;
//   2. calls the function, which takes `livemod::sdk::host&` or nothing, and returns void
//      (success) or an int32_t (negative: that -LIVEMOD_E_* code; otherwise success);
//   3. on success returns LIVEMOD_ABI_VERSION; on `livemod::sdk::failure` returns -its code;
//      on any other exception returns -LIVEMOD_E_EXCEPTION. Both are logged through the host at
//      LIVEMOD_LOG_ERROR with the exception's what().
// on_unload has no return value: an exception escaping it is caught and written to stderr
// (the host's logger is only promised during on_load).
//
// Built with -fno-exceptions, the macros call the function directly: there is nothing to catch.
// Requires C++17. Thread-safety: the wrappers keep no state; the host serialises lifecycle calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "livemod/sdk/module.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define LIVEMOD_SDK_EXCEPTIONS 1
#else
#define LIVEMOD_SDK_EXCEPTIONS 0
#endif

namespace livemod::sdk {

// The host as on_load sees it: a typed view over livemod_host_api, valid during on_load only.
class host {
 public:
  explicit host(const livemod_host_api* api) noexcept : api_(api) {}

  // The ABI version the host speaks; 0 when it passed no API table.
  std::uint32_t abi_version() const noexcept {
    return covers(offsetof(livemod_host_api, abi_version) + sizeof(std::uint32_t))
               ? api_->abi_version
               : 0;
  }

  // Sends a message to the host's log; does nothing if the host has no logger. Never throws.
  void log(int level, const char* message) const noexcept {
    if (covers(offsetof(livemod_host_api, host) + sizeof(void*)) && api_->log && message)
      api_->log(api_->host, level, message);
  }

  // What became of the dependency `name` of the module being loaded (its manifest's
  // "dependencies"): present (loaded; upward ones are initialized after this module), absent (a
  // weak one that was not found or not in range), not_listed (the manifest does not name it),
  // or unknown (this host does not say). Valid during on_load only.
  enum class dependency_state { present, absent, not_listed, unknown };
  dependency_state dependency(const char* name) const noexcept {
    if (!covers(offsetof(livemod_host_api, dependency_present) + sizeof(void*)) ||
        !api_->dependency_present || !name)
      return dependency_state::unknown;
    switch (api_->dependency_present(api_->host, name)) {
      case 1:
        return dependency_state::present;
      case 0:
        return dependency_state::absent;
      case -1:
        return dependency_state::not_listed;
      default:
        return dependency_state::unknown;
    }
  }

  // The C table itself, for members newer than this header knows.
  const livemod_host_api* c_api() const noexcept { return api_; }

 private:
  // Whether the host filled in the table at least up to `bytes` (it grows only at the end).
  bool covers(std::size_t bytes) const noexcept { return api_ && api_->size >= bytes; }
  const livemod_host_api* api_;
};

// Throw this from an entry point to fail with a specific code instead of LIVEMOD_E_EXCEPTION:
//   throw livemod::sdk::failure(LIVEMOD_E_FAILED, "port 8080 is taken");
class failure : public std::exception {
 public:
  failure(int code, std::string message) : code_(code), message_(std::move(message)) {}
  // The positive LIVEMOD_E_* code; the entry point returns its negation.
  int code() const noexcept { return code_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  int code_;
  std::string message_;
};

namespace detail {

// Formats into a fixed buffer: reporting a failure must not allocate, or a bad_alloc being
// reported would throw again inside a noexcept function.
template <class... Args>
void report(const host& h, const char* format, Args... args) noexcept {
  char message[512];
  std::snprintf(message, sizeof message, format, args...);
  h.log(LIVEMOD_LOG_ERROR, message);
}

// Calls `body` (taking host& or nothing) and maps its result to an entry point's return value:
// >= 0 success, -LIVEMOD_E_* failure.
template <class F>
std::int32_t call(host& h, F& body) {
  if constexpr (std::is_invocable_v<F&, host&>) {
    using r = std::invoke_result_t<F&, host&>;
    if constexpr (std::is_void_v<r>) {
      body(h);
      return LIVEMOD_OK;
    } else {
      static_assert(std::is_convertible_v<r, std::int32_t>,
                    "an entry point function returns void or an int32_t code");
      return static_cast<std::int32_t>(body(h));
    }
  } else {
    static_assert(std::is_invocable_v<F&>,
                  "an entry point function takes livemod::sdk::host& or no argument");
    using r = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<r>) {
      body();
      return LIVEMOD_OK;
    } else {
      static_assert(std::is_convertible_v<r, std::int32_t>,
                    "an entry point function returns void or an int32_t code");
      return static_cast<std::int32_t>(body());
    }
  }
}

}  // namespace detail

// Runs `body` so that nothing escapes: the building block of the macros, usable for any entry
// point that returns an int32_t code. `entry` names it in log messages.
template <class F>
std::int32_t guarded(const livemod_host_api* api, const char* entry, F&& body) noexcept {
  host h(api);
#if LIVEMOD_SDK_EXCEPTIONS
  try {
    return detail::call(h, body);
  } catch (const failure& f) {
    detail::report(h, "%s failed: %s", entry, f.what());
    // A failure must read as one, whatever code it was given.
    return f.code() > 0 ? -f.code() : -LIVEMOD_E_FAILED;
  } catch (const std::exception& e) {
    detail::report(h, "%s threw an exception: %s", entry, e.what());
    return -LIVEMOD_E_EXCEPTION;
  } catch (...) {
    detail::report(h, "%s threw an exception that is not a std::exception", entry);
    return -LIVEMOD_E_EXCEPTION;
  }
#else
  (void)entry;
  return detail::call(h, body);
#endif
}

namespace detail {

template <class F>
std::int32_t on_load(const livemod_host_api* api, std::uint32_t requested_abi, const char* entry,
                     F&& body) noexcept {
  if (requested_abi != LIVEMOD_ABI_VERSION) {
    report(host(api),
           "%s: the host requested livemod abi %u, this module was built for abi %d; "
           "rebuild the module against the host's livemod sdk",
           entry, static_cast<unsigned>(requested_abi), LIVEMOD_ABI_VERSION);
    return -LIVEMOD_E_ABI;
  }
  std::int32_t rc = guarded(api, entry, body);
  return rc < 0 ? rc : LIVEMOD_ABI_VERSION;
}

template <class F>
void on_unload(const char* entry, F&& body) noexcept {
#if LIVEMOD_SDK_EXCEPTIONS
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "livemod module: %s threw an exception: %s\n", entry, e.what());
  } catch (...) {
    std::fprintf(stderr, "livemod module: %s threw an exception\n", entry);
  }
#else
  (void)entry;
  body();
#endif
}

}  // namespace detail
}  // namespace livemod::sdk

// Defines the exported on_load entry point `symbol` (name it in the manifest's
// entry_points.on_load) around `function`, a function or lambda taking livemod::sdk::host& or
// nothing. Use at namespace scope.
#define LIVEMOD_ON_LOAD(symbol, ...)                                                           \
  extern "C" LIVEMOD_EXPORT std::int32_t symbol(const livemod_host_api* livemod_host_,         \
                                                std::uint32_t livemod_abi_) noexcept {         \
    return ::livemod::sdk::detail::on_load(livemod_host_, livemod_abi_, #symbol, __VA_ARGS__); \
  }                                                                                            \
  static_assert(std::is_convertible_v<decltype(&symbol), ::livemod_on_load_fn>,                \
                "on_load must match livemod_on_load_fn")

// Defines the exported on_unload entry point `symbol` around `function` (taking nothing).
#define LIVEMOD_ON_UNLOAD(symbol, ...)                                            \
  extern "C" LIVEMOD_EXPORT void symbol() noexcept {                              \
    ::livemod::sdk::detail::on_unload(#symbol, __VA_ARGS__);                      \
  }                                                                               \
  static_assert(std::is_convertible_v<decltype(&symbol), ::livemod_on_unload_fn>, \
                "on_unload must match livemod_on_unload_fn")
