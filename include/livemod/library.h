// File: livemod/library.h
//
// An open shared library: the RAII handle over dlopen/dlsym/dlclose, with typed symbol import
// and errors classified from what the dynamic linker says. This is the lowest layer: it does
// not check anything before loading (livemod/check.h does), so loading runs the library's
// constructors.
//
//   auto lib = livemod::library::open(livemod::platform_file_name("calculator"));  // libcalculator.so
//   if (!lib) return fail(lib.error());       // file_not_found, missing_dependency, wrong_arch ...
//   auto calculate = lib->symbol<int(int)>("calculate");
//   if (calculate) std::cout << (*calculate)(20) << "\n";
//   // the library is closed when `lib` goes out of scope
//
// Lifetime and threads: move-only; a moved-from handle is empty. Distinct handles may be used
// from different threads at once; one handle is not synchronised. dlerror is read under a
// process-wide lock so two failing opens on two threads each get their own text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>

#include "livemod/error.h"

namespace livemod {

// dlopen's flags, as a type. The default is what livemod always wants: bind everything now
// (so a missing symbol fails the open, not a later call) and keep symbols local.
enum class open_flags : std::uint32_t {
  now = 1u << 0,       // RTLD_NOW (otherwise RTLD_LAZY)
  global = 1u << 1,    // RTLD_GLOBAL (otherwise RTLD_LOCAL)
  nodelete = 1u << 2,  // RTLD_NODELETE
  noload = 1u << 3,    // RTLD_NOLOAD: only succeed if already loaded
  deepbind = 1u << 4,  // RTLD_DEEPBIND
};
constexpr open_flags operator|(open_flags a, open_flags b) {
  return static_cast<open_flags>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}
constexpr bool has(open_flags set, open_flags f) {
  return (static_cast<std::uint32_t>(set) & static_cast<std::uint32_t>(f)) != 0;
}

// "calculator" -> "libcalculator.so" on Linux (DLL_EXTENSION's idea: the platform's naming).
std::string platform_file_name(std::string_view name);

class library {
 public:
  library() = default;
  library(library&& other) noexcept;
  library& operator=(library&& other) noexcept;
  library(const library&) = delete;
  library& operator=(const library&) = delete;
  ~library();

  // Opens `path` (a path with '/' is used as is; a bare file name goes through the system
  // linker's search). Errors, classified from errno, the file's header and dlerror:
  //   file_not_found, permission_denied, not_a_regular_file, not_elf, wrong_class, wrong_arch,
  //   missing_dependency (names the library), undefined_symbol (names the symbol),
  //   symbol_version_missing (names the version and library), load_failed (anything else).
  // The dlerror text is kept in error::os_text().
  static result<library> open(const std::filesystem::path& path,
                              open_flags flags = open_flags::now);

  // The address of `name`. Errors: symbol_not_found.
  result<void*> raw_symbol(std::string_view name) const;

  // Typed import: symbol<int(int)>("calculate") gives int(*)(int); symbol<int>("counter")
  // gives int*.
  template <class T>
  result<std::add_pointer_t<T>> symbol(std::string_view name) const {
    auto address = raw_symbol(name);
    if (!address) return fail(address.error());
    if constexpr (std::is_function_v<T>) {
      return reinterpret_cast<std::add_pointer_t<T>>(*address);
    } else {
      return static_cast<std::add_pointer_t<T>>(*address);
    }
  }

  // Closes now instead of at destruction. Errors: close_failed. The handle is empty after.
  result<void> close();

  bool is_open() const noexcept { return handle_ != nullptr; }
  explicit operator bool() const noexcept { return is_open(); }
  const std::filesystem::path& path() const noexcept { return path_; }
  // The raw dlopen handle, for the layers that need it (dlinfo, dlmopen namespaces).
  void* native_handle() const noexcept { return handle_; }

 private:
  library(void* handle, std::filesystem::path path) : handle_(handle), path_(std::move(path)) {}
  void* handle_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace livemod
