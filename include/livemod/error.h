// File: livemod/error.h
//
// The one error type of livemod: a stable code, and a message that names the file, the cause
// and the remedy. Every fallible call returns `result<T>` (tl::expected, so it can become
// std::expected); nothing throws out of the public API.
//
//   livemod::result<livemod::image_info> r = livemod::read_image("libcalc.so");
//   if (!r) {
//     std::cerr << r.error().describe() << "\n";   // "E204 truncated: libcalc.so: ..."
//     return r.error().code() == livemod::errc::file_not_found ? 2 : 1;
//   }
//
// Lifetime and threads: plain values; copy and move freely, share const references.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace livemod {

// Codes are grouped by layer and never renumbered: scripts and tests match on them.
enum class errc : int {
  // 1xx: opening and loading files
  file_not_found = 101,
  permission_denied = 102,
  not_a_regular_file = 103,
  io_error = 104,
  not_elf = 105,
  wrong_class = 106,
  wrong_arch = 107,
  missing_dependency = 108,
  undefined_symbol = 109,
  symbol_version_missing = 110,
  symbol_not_found = 111,
  load_failed = 112,
  close_failed = 113,
  // the registry (livemod/registry.h): lifecycle and namespaces
  init_failed = 114,            // on_load reported a failure or threw (or did, and is remembered)
  module_in_use = 115,          // unload refused: other loaded modules still need it
  namespace_conflict = 116,     // the file is owned by another (non-isolated) namespace
  namespace_limit = 117,        // the dynamic linker has no namespace (or static TLS) left
  module_unloaded = 118,        // a handle whose module was unloaded (cascade, registry gone)
  isolation_unavailable = 119,  // a private copy cannot be made (sanitizer runtimes)
  // 2xx: reading images and manifests
  empty_file = 201,
  truncated = 202,
  corrupt_elf = 203,
  not_shared_object = 204,
  manifest_missing = 210,
  manifest_bad_json = 211,
  manifest_schema = 212,
  manifest_bad_version = 213,
  manifest_bad_range = 214,
  // 3xx: resolving names and dependencies
  bad_module_name = 301,
  module_not_found = 302,
  dependency_cycle = 303,
  version_unsatisfied = 304,
  duplicate_module = 305,
  // 4xx: compatibility
  incompatible = 400,
  arch_mismatch = 401,
  class_mismatch = 402,
  symbol_version_unavailable = 403,
  needed_not_found = 404,
  unresolved_symbol = 405,
  fingerprint_mismatch = 406,
  abi_unsupported = 407,
  image_pinned = 408,
  // 5xx: hot swap and containing crashes (livemod/crash_guard.h)
  module_crashed = 501,     // a guarded call crashed (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT)
  stack_overflow = 502,     // a guarded call ran out of stack
  guard_unavailable = 503,  // the crash guard could not be set up; the call was not made
  // 52x: watching module files (livemod/watch.h)
  watch_failed = 520,     // a directory cannot be watched, or stopped being watched
  file_incomplete = 521,  // a changed file stayed half-written or truncated past the retry window
  // 53x-54x: the hot swap (livemod/live.h); each leaves the old version serving
  swap_stage_failed = 530,       // the new file could not be copied into the shadow dir
  swap_preflight_failed = 531,   // check() found the new file incompatible (the finding says why)
  module_renamed = 532,          // the new file's manifest names another module
  interface_incompatible = 533,  // the interface is missing, or its method count shrank
  downgrade_refused = 534,       // the new version is lower and the swap was not forced
  on_load_timeout = 535,         // on_load did not return in time; its image is abandoned
  state_migration_failed = 536,  // save_state or restore_state failed or crashed
  health_check_failed = 537,     // the health check refused the new version: rolled back
  unload_incomplete = 538,       // the old image is still mapped after dlclose (pins say why)
  no_previous_version = 539,     // rollback with no earlier version in history
  no_version_loaded = 540,       // a call through a live handle while no version serves
  // 541-549: the live layer's control channel (the CLI's rollback and status requests)
  control_failed = 541,          // the control socket cannot be made, reached or answered
  // 6xx: live objects
  code_memory_failed = 601,      // generated code or a vtable page cannot be mapped or protected
  unsupported_platform = 602,    // no thunk emitter for this architecture (use portable mode)
  class_not_found = 603,         // no module serving exports a factory for this class id
  interface_not_supported = 604, // query_interface: the object does not implement that id
  converter_missing = 605,       // a class with live objects has no converter in the new version
  conversion_failed = 606,       // a converter reported failure for one object
  object_interface_shrank = 607, // the new version's interface has fewer methods than the old
  object_layout_changed = 608,   // the interface's layout hash changed without a new id
  // 7xx isolate: reserved for that layer
};

// The stable snake_case name of a code ("truncated"); "unknown" for a value not listed.
std::string_view to_string(errc code) noexcept;

class error {
 public:
  // `file` is what the error is about (a path or module name, may be empty), `cause` what is
  // wrong with it, `remedy` what the reader can do; each lowercase, no trailing period.
  error(errc code, std::string file, std::string cause, std::string remedy = {});

  errc code() const noexcept { return code_; }
  const std::string& file() const noexcept { return file_; }
  const std::string& cause() const noexcept { return cause_; }
  const std::string& remedy() const noexcept { return remedy_; }
  // Text the OS gave at the moment of failure (dlerror, strerror), kept verbatim.
  const std::string& os_text() const noexcept { return os_text_; }
  error& with_os_text(std::string text) &;
  error&& with_os_text(std::string text) &&;

  // "file: cause; remedy", the sentence a user reads.
  std::string message() const;
  // "E204 truncated: " + message(), for logs and the CLI.
  std::string describe() const;

 private:
  errc code_;
  std::string file_;
  std::string cause_;
  std::string remedy_;
  std::string os_text_;
};

template <class T>
using result = tl::expected<T, error>;

// `return fail(errc::truncated, path, "...", "...");` in a function returning result<T>.
inline tl::unexpected<error> fail(errc code, std::string file, std::string cause,
                                  std::string remedy = {}) {
  return tl::unexpected<error>(error(code, std::move(file), std::move(cause), std::move(remedy)));
}
inline tl::unexpected<error> fail(error e) { return tl::unexpected<error>(std::move(e)); }

}  // namespace livemod
