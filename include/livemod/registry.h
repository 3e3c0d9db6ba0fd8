// File: livemod/registry.h
//
// The host side of livemod: a registry loads modules and what they depend on, once per file,
// into namespaces it owns, runs their lifecycle entry points in the right order, and tells
// observers about every step. It is what System.loadLibrary and dyld are to their platforms.
//
//   livemod::registry_options options;
//   options.search = livemod::module_search_path::from_environment({"/opt/app/modules"});
//   livemod::registry host(std::move(options));
//   auto app = host.load(livemod::module_ref::named("app"));  // app and its dependencies
//   if (!app) return fail(app.error());   // module_not_found, init_failed, unresolved_symbol ...
//   auto run = app->symbol<int(int)>("app_run");
//   if (run) (*run)(42);
//   // `app` released: app and every dependency nothing else needs are unloaded
//
// What a load does, for each module of the graph that is not loaded yet (docs/registry.md):
//   1. resolve: resolve_graph (livemod/resolve.h) gives the graph, its load and init order;
//   2. preflight: check() (livemod/check.h) on the file; an error finding refuses the module,
//      and no module code has run;
//   3. map: dlopen (or dlmopen for an isolated namespace) in load order, dependencies first;
//      the system linker runs the module's ELF constructors here;
//   4. initialize: the manifest's on_load(host_api, LIVEMOD_ABI_VERSION) in init order, once
//      every module of that generation is mapped. It returns the ABI it speaks, or fails.
// Per file version (device, inode, size, mtime) the registry keeps the parsed manifest and a
// passed preflight, so loading unchanged files again reads none of them.
// A failure anywhere unloads what this load mapped (on_unload for what it initialized) and
// leaves what was loaded before untouched. A failed on_load is remembered by file identity
// (device, inode), size and mtime: the same unchanged file fails again without being mapped.
//
// Identity and references: a module is one file identity in one link map. Loading it again
// (by name, path or symlink) gives a handle to the same module; each handle is one reference.
// Dependencies are held by the modules that need them. When the last handle goes, the module
// and every dependency no remaining handle reaches are unloaded, in reverse order. unload()
// makes it explicit, and refuses (module_in_use) while other modules need the module, unless
// asked to cascade.
//
// Namespaces: every load goes into one. The default namespace and named ones share the
// process's link map, so a file belongs to the first namespace that loaded it and another
// gets namespace_conflict. An isolated namespace has a link map of its own (dlmopen): its
// modules are private copies, with their own symbols and statics, so two versions of a module
// can run at once. glibc allows 15 of them besides the base; past that, namespace_limit.
//
// Lifetime and threads: all registry members are thread-safe. Loads and unloads are
// serialised from the mapping step on (the dynamic linker serialises them anyway); resolving
// and preflight of concurrent loads run in parallel, and N threads loading one module map it
// and run on_load once. Entry points, the log callback and observers run on the thread that
// loads or unloads; entry points and the log callback must not call back into the registry
// (that call fails with load_failed), observers may. Handles may outlive the registry: the
// registry's destructor unloads everything, and handles then report module_unloaded. Destroy
// the registry only when no other thread is inside one of its members. A handle is not
// synchronised; distinct handles may be used on different threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "livemod/check.h"
#include "livemod/error.h"
#include "livemod/library.h"
#include "livemod/manifest.h"
#include "livemod/resolve.h"

namespace livemod {

// The steps of a module's life, in the order they happen; `failed` replaces the step that
// failed, `unloaded` ends it.
enum class module_state : std::uint8_t { resolved, checked, mapped, initialized, failed, unloaded };
std::string_view to_string(module_state state);

// A namespace of a registry; default_namespace always exists.
enum class namespace_id : std::uint32_t {};
inline constexpr namespace_id default_namespace{0};

struct namespace_options {
  // A link map of its own (dlmopen): private copies of its modules and of what they need.
  bool isolated = false;
};

// One state change, for observers. `took` is the time of that step: resolve_graph for the
// whole request (the same figure for each module of it), check(), dlopen, on_load, or
// on_unload plus dlclose.
struct module_event {
  module_state state = module_state::resolved;
  std::string module;          // the manifest's name
  std::string version;
  std::filesystem::path file;
  std::string namespace_name;  // "default" for default_namespace
  std::chrono::nanoseconds took{};
  std::optional<error> failure;  // set for module_state::failed
};

// Where a module's load time went: one row of a startup report.
struct module_timing {
  std::string module;
  std::string version;
  std::string namespace_name;
  std::filesystem::path file;
  std::chrono::nanoseconds check{};  // preflight; zero when a cached verdict was used
  std::chrono::nanoseconds map{};    // dlopen / dlmopen, ELF constructors included
  std::chrono::nanoseconds init{};   // on_load
  bool preflight_cached = false;
  std::chrono::nanoseconds total() const noexcept { return check + map + init; }
};

// What one load did: filled in when load_options::report is set.
struct load_report {
  std::chrono::nanoseconds resolve{};  // resolve_graph, for the whole request
  // The preflight phase, wall time: the modules' `check` times add up to more when they were
  // checked in parallel (registry_options::preflight_threads).
  std::chrono::nanoseconds preflight{};
  std::vector<module_timing> loaded;   // the modules this load mapped, in load order
  std::vector<std::string> reused;     // modules of the graph that were loaded already
  std::chrono::nanoseconds total{};    // the whole call
};

// A table for people: one row per module (check, map, init, total in milliseconds) and a
// total row. `resolve` adds a line for the graph's resolution when it is not zero.
std::string format_timings(std::span<const module_timing> rows,
                           std::chrono::nanoseconds resolve = {});

// What a registry holds, as a snapshot.
struct module_info {
  std::string name;
  semver version;
  std::filesystem::path file;
  std::string namespace_name;
  module_state state = module_state::initialized;
  std::uint32_t abi = 0;                 // what on_load said it speaks (the manifest's without one)
  std::size_t handles = 0;               // references held by module_handle objects
  std::vector<std::string> needs;        // loaded dependencies, manifest order
  std::vector<std::string> needed_by;    // loaded modules that need it
  module_timing timing;
};

namespace detail {
struct registry_state;
struct module_record;
class state_access;
}  // namespace detail

// One reference to a loaded module. Move-only; releasing it (destruction, reset()) unloads
// the module when nothing else needs it. Two handles compare equal when they refer to the
// same module.
class module_handle {
 public:
  module_handle() = default;
  module_handle(module_handle&& other) noexcept = default;
  module_handle& operator=(module_handle&& other) noexcept;
  module_handle(const module_handle&) = delete;
  module_handle& operator=(const module_handle&) = delete;
  ~module_handle();

  // False for an empty (default-constructed, moved-from or released) handle.
  explicit operator bool() const noexcept { return record_ != nullptr; }
  // False once the module was unloaded under the handle (a cascade, the registry's end).
  bool loaded() const noexcept;

  // What the manifest says; empty values for an empty handle.
  const std::string& name() const noexcept;
  const semver& version() const noexcept;
  const std::filesystem::path& file() const noexcept;
  namespace_id where() const noexcept;
  // The ABI version on_load said it speaks (the manifest's "abi" when it has no on_load).
  std::uint32_t abi() const noexcept;
  // How many handles refer to this module now.
  std::size_t references() const noexcept;

  // The address of `name` in the module. Errors: module_unloaded (empty handle too),
  // symbol_not_found. An address stays valid only while the module is loaded.
  result<void*> raw_symbol(std::string_view name) const;
  template <class T>
  result<std::add_pointer_t<T>> symbol(std::string_view name) const {
    return raw_symbol(name).map(symbol_cast<T>);
  }

  // Releases the reference now; the handle is empty after.
  void reset() noexcept;

  friend bool operator==(const module_handle& a, const module_handle& b) noexcept {
    return a.record_ == b.record_;
  }

 private:
  friend class registry;
  friend class detail::state_access;
  module_handle(std::shared_ptr<detail::registry_state> state,
                std::shared_ptr<detail::module_record> record) noexcept
      : state_(std::move(state)), record_(std::move(record)) {}
  std::shared_ptr<detail::registry_state> state_;
  std::shared_ptr<detail::module_record> record_;
};

struct registry_options {
  // Where names are looked up (livemod/resolve.h has the order).
  module_search_path search = module_search_path::from_environment();
  // How the preflight checks modules against this host.
  check_options preflight;
  // Keep each passed preflight for the file's identity, size and mtime, so loading an
  // unchanged file again skips the check. Libraries it needs are not watched for changes.
  bool cache_preflight = true;
  // How many threads run the preflight checks of one load's modules (they only read files, no
  // module code runs): 0 picks up to 4 by the machine's cores; 1 checks in the calling thread.
  // The outcome does not depend on it: the same verdicts, and when several modules fail, the
  // error of the first in load order.
  unsigned preflight_threads = 0;
  // Where modules' log lines go (host_api.log): the module's name, a LIVEMOD_LOG_* level and
  // the text. Unset: dropped. Error lines logged during a failed on_load also end up in the
  // init_failed message.
  std::function<void(std::string_view module, int level, std::string_view message)> log;
};

enum class unload_mode : std::uint8_t {
  // module_in_use while a loaded module still needs it
  refuse_if_needed,
  // also unload, first, every module that needs it, directly or not; their handles then
  // report module_unloaded
  cascade,
};

struct load_options {
  namespace_id where = default_namespace;
  load_report* report = nullptr;  // filled in when set, also when the load fails
};

class registry {
 public:
  explicit registry(registry_options options = {});
  // Unloads every module still loaded, dependents first.
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // Makes a namespace. Errors: bad_module_name (a name must be a module name: [a-z0-9_.-],
  // not "default"), namespace_conflict (the name is taken).
  result<namespace_id> create_namespace(std::string name, namespace_options options = {});
  // The name of `id`, or "" when there is no such namespace.
  std::string namespace_name(namespace_id id) const;

  // Loads `ref` and everything it depends on, and returns a handle to it. Errors:
  //   resolve_graph's (bad_module_name, module_not_found, version_unsatisfied,
  //     dependency_cycle, duplicate_module, manifest and image errors)
  //   file_not_found        a file of the graph went away after it was resolved
  //   duplicate_module      another file with the same module name is loaded in the namespace
  //   namespace_conflict    the file is loaded by another namespace that shares the link map
  //   the preflight's codes (unresolved_symbol, needed_not_found, fingerprint_mismatch,
  //     abi_unsupported, symbol_version_unavailable, arch_mismatch, ...): its first error
  //   load_failed, missing_dependency, undefined_symbol ...  dlopen refused it (library.h)
  //   namespace_limit, isolation_unavailable                 isolated namespaces
  //   symbol_not_found      an entry point the manifest names is not exported
  //   abi_unsupported       on_load speaks an ABI this host does not (or returned 0)
  //   init_failed           on_load reported a failure or threw; or did so before and the
  //                         file has not changed since (then it is not run again)
  //   load_failed           called from an entry point or the log callback; no such namespace
  // Nothing loaded before the call is affected by a failure.
  result<module_handle> load(const module_ref& ref, const load_options& options = {});
  // Loads several modules as one graph (independent ones keep this order); one handle each.
  result<std::vector<module_handle>> load(std::span<const module_ref> refs,
                                          const load_options& options = {});
  // Loads a graph resolved earlier (resolve_graph); one handle per graph.requested(). Its
  // files are taken as they are now: one that has gone away is file_not_found.
  result<std::vector<module_handle>> load_graph(const module_graph& graph,
                                                const load_options& options = {});

  // Gives up `handle`'s reference and unloads its module if nothing else holds it. Returns
  // the modules unloaded, in the order they went (empty while other handles remain). Errors:
  // module_in_use (refuse_if_needed, and loaded modules need it: the message names them; the
  // handle is left as it was), module_unloaded (an empty or stale handle), load_failed (from
  // an entry point). On success the handle is empty.
  result<std::vector<std::string>> unload(module_handle& handle,
                                          unload_mode mode = unload_mode::refuse_if_needed);

  // The modules loaded now, in load order.
  std::vector<module_info> modules() const;
  // The startup report: a timing row per loaded module, in load order.
  std::vector<module_timing> timings() const;

  // Observers see every state change of every module, in order, on the thread that caused
  // it, after the registry's own lock is released: those of every load that begins after
  // add_observer returns (a load nobody observes builds no events). Returns an id for
  // remove_observer; once remove_observer returns, the observer is not called again.
  using observer = std::function<void(const module_event&)>;
  std::uint64_t add_observer(observer callback);
  void remove_observer(std::uint64_t id);

 private:
  std::shared_ptr<detail::registry_state> state_;
};

}  // namespace livemod
