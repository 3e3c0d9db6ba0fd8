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

#include <compare>
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

// A namespace of the dynamic linker (glibc's link-map list, Lmid_t): `base` is the one every
// dlopen uses; each other one holds its own copy of every library loaded into it, libc
// included, with its own symbols and its own statics. `fresh` asks open_in for a new one.
// glibc has DL_NNS = 16 of them, base included, and static TLS usually runs out first:
// docs/registry.md has the figures measured on this system.
enum class link_namespace : long { base = 0, fresh = -1 };

// How the dynamic linker tells files apart (glibc's l_file_id is device and inode: a second
// path to an open file gives the open image), with size and modification time, which tell
// one version of a file from the next at the same inode.
struct file_identity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  // The same file, whatever its contents.
  bool same_file(const file_identity& other) const noexcept {
    return device == other.device && inode == other.inode;
  }
  friend bool operator==(const file_identity&, const file_identity&) = default;
  friend auto operator<=>(const file_identity&, const file_identity&) = default;
};

// stat(2) of `path`, symlinks followed. Errors: file_not_found, permission_denied,
// not_a_regular_file, io_error. (Implemented in src/os/linux/namespace.cc.)
result<file_identity> identify_file(const std::filesystem::path& path);

// "calculator" -> "libcalculator.so" on Linux (DLL_EXTENSION's idea: the platform's naming).
std::string platform_file_name(std::string_view name);

// A symbol's address as T*: a function pointer for a function type (dlsym's POSIX contract
// makes the conversion valid), a data pointer otherwise. Shared by every typed import.
template <class T>
std::add_pointer_t<T> symbol_cast(void* address) {
  if constexpr (std::is_function_v<T>) {
    return reinterpret_cast<std::add_pointer_t<T>>(address);
  } else {
    return static_cast<std::add_pointer_t<T>>(address);
  }
}

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
  // The dlerror text is kept in error::os_text(). An empty path is file_not_found; with
  // open_flags::noload, a library that is not loaded is load_failed.
  // Opening a file that is already open returns the same image with its refcount raised: its
  // constructors do not run again and open_flags::now does not re-bind it.
  static result<library> open(const std::filesystem::path& path,
                              open_flags flags = open_flags::now);

  // The address of `name`; a symbol whose value is NULL is found, and gives nullptr.
  // Errors: symbol_not_found (also for an empty handle).
  result<void*> raw_symbol(std::string_view name) const;

  // Typed import: symbol<int(int)>("calculate") gives int(*)(int); symbol<int>("counter")
  // gives int*.
  template <class T>
  result<std::add_pointer_t<T>> symbol(std::string_view name) const {
    return raw_symbol(name).map(symbol_cast<T>);
  }

  // Closes now instead of at destruction; closing an empty handle does nothing. Errors:
  // close_failed. The handle is empty after either way; path() still names the file.
  result<void> close();

  bool is_open() const noexcept { return handle_ != nullptr; }
  explicit operator bool() const noexcept { return is_open(); }
  const std::filesystem::path& path() const noexcept { return path_; }
  // The raw dlopen handle, for the layers that need it (dlinfo, dlmopen namespaces).
  void* native_handle() const noexcept { return handle_; }

  // Opens `path` in the dynamic linker's namespace `where` (dlmopen): link_namespace::fresh
  // makes a new namespace, and namespace_id() then tells which one it became; open the next
  // library with that id to load it beside the first. link_namespace::base is open().
  // Errors: file_not_found, permission_denied, not_a_regular_file (checked on the path when
  // the dynamic linker fails), namespace_limit (glibc has no namespace left, or the static TLS
  // block is full, when asked for a fresh namespace), load_failed (anything else: the dynamic
  // linker's text is kept in os_text(); run check() first for a precise diagnosis).
  // Implemented in src/os/linux/namespace.cc.
  static result<library> open_in(link_namespace where, const std::filesystem::path& path,
                                 open_flags flags = open_flags::now);

  // The namespace this library was loaded into (dlinfo RTLD_DI_LMID). Errors: load_failed
  // (also for an empty handle).
  result<link_namespace> namespace_id() const;

 private:
  library(void* handle, std::filesystem::path path) : handle_(handle), path_(std::move(path)) {}
  void* handle_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace livemod
