// File: livemod/resolve.h
//
// Resolving modules: names to files on a fixed search path, and the dependency graph that the
// modules' manifests describe, with the order to load them in and the order to initialize them
// in. Nothing here loads a module or runs its code: files are read as data (read_image +
// parse_manifest), and tests and tools can drive the graph with in-memory nodes instead.
//
//   auto search = livemod::module_search_path::from_environment({"/opt/app/modules"});
//   std::vector<livemod::module_ref> want = {livemod::module_ref::named("app")};
//   auto graph = livemod::resolve_graph(want, livemod::manifest_provider(search));
//   if (!graph) return fail(graph.error());   // module_not_found, version_unsatisfied ...
//   for (std::size_t i : graph->init_order()) std::cout << graph->modules()[i].name << "\n";
//
// Lifetime and threads: every type is a plain value. The functions are reentrant; a provider
// is called only from the thread that called resolve_graph.
//
// Search order (find_module), fixed and the same everywhere:
//   1. the host's module directories, in the order the host gives them;
//   2. LIVEMOD_PATH, split at ':', left to right; empty and relative entries are ignored and
//      reported (a relative entry would depend on the working directory: no surprise paths);
//   3. the system directories: /usr/local/lib/livemod, then /usr/lib/livemod.
// A directory listed twice is searched once, at its first place.
//
// Ordering rules (docs/resolve.md explains them with examples):
//   * Ordering edges are `required` edges and `weak` edges whose target is present. A cycle of
//     ordering edges is an error (dependency_cycle) that names every module on it. `upward`
//     edges never order anything, so a cycle through an upward edge is allowed.
//   * Generations (dyld's rule for upward edges): generation 0 is the requested modules and
//     everything they reach through ordering edges. The targets of upward edges that are not
//     in a generation yet start the next one, with what they reach, and so on. Each generation
//     is loaded and initialized after the previous one, so an upward target comes after the
//     module that names it unless it is also needed through ordering edges.
//   * Load order, within a generation: dependencies first (a depth-first post-order, starting
//     from the roots in the order they were asked for and following dependencies in manifest
//     order), so modules with no relation keep the order in which they were asked for.
//   * Init order, within a generation: glibc's own order (elf/dl-sort-maps.c, the default
//     "DFS" algorithm, glibc.rtld.dynamic_sort=2, since 2.35): list the generation breadth
//     first from its roots, then, from the last of that list to the first, run a depth-first
//     search along dependencies in manifest order; the order in which modules finish is the
//     init order. Every module is initialized after its dependencies; among siblings the later
//     one usually goes first: a module that needs `m1, m4` (linked `-lm1 -lm4`) sees m4
//     initialized before m1, exactly as ld.so does it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "livemod/error.h"
#include "livemod/library.h"
#include "livemod/manifest.h"

namespace livemod {

// Checks that `name` can name a module: the manifest's grammar ([a-z0-9_][a-z0-9_.-]*, at most
// 64 characters) and no "..". So no path separator, no "..", no absolute path can reach the
// file system through a name. Errors: bad_module_name, naming the name and what is wrong.
result<void> check_module_name(std::string_view name);

// The directories find_module searches, in order. See the file comment for the rule.
class module_search_path {
 public:
  enum class origin : std::uint8_t { host, environment, system };
  struct entry {
    std::filesystem::path dir;
    origin from = origin::host;
  };

  // `livemod_path` is LIVEMOD_PATH's value ("" when unset).
  module_search_path(std::vector<std::filesystem::path> host_dirs, std::string_view livemod_path,
                     std::vector<std::filesystem::path> system_dirs = default_system_dirs());

  // Reads LIVEMOD_PATH from the environment.
  static module_search_path from_environment(std::vector<std::filesystem::path> host_dirs = {});

  // /usr/local/lib/livemod, then /usr/lib/livemod: local installs override the distribution's.
  static std::vector<std::filesystem::path> default_system_dirs();

  const std::vector<entry>& entries() const noexcept { return entries_; }
  // LIVEMOD_PATH entries that were ignored (empty or relative), verbatim, for a warning.
  const std::vector<std::string>& ignored() const noexcept { return ignored_; }

 private:
  void add(std::filesystem::path dir, origin from);
  std::vector<entry> entries_;
  std::vector<std::string> ignored_;
};

std::string_view to_string(module_search_path::origin from);

// The files find_module would try for `name`, in order: <dir>/libNAME.so for every directory.
// Does not check the name.
std::vector<std::filesystem::path> module_candidates(std::string_view name,
                                                     const module_search_path& search);

// The first candidate that is a regular file (a symlink to one counts). Errors:
//   bad_module_name   the name is not a module name (check_module_name)
//   module_not_found  no candidate is a regular file; the message lists every candidate
//                     tried, in order, and why a candidate that exists was passed over
result<std::filesystem::path> find_module(std::string_view name, const module_search_path& search);

// What a host asks for: a module name, looked up on the search path, or a file, taken as is
// (an explicit path is the host's own choice, so it is not searched nor checked as a name).
class module_ref {
 public:
  static module_ref named(std::string name) { return module_ref(std::move(name), {}); }
  static module_ref from_path(std::filesystem::path file) {
    return module_ref({}, std::move(file));
  }

  bool is_path() const noexcept { return !file_.empty(); }
  const std::string& name() const noexcept { return name_; }            // "" for a path
  const std::filesystem::path& path() const noexcept { return file_; }  // "" for a name
  // The name, or the path as text: what messages call it.
  std::string display() const { return is_path() ? file_.string() : name_; }

 private:
  module_ref(std::string name, std::filesystem::path file)
      : name_(std::move(name)), file_(std::move(file)) {}
  std::string name_;
  std::filesystem::path file_;
};

// One module as the graph sees it: what its manifest says, and the file it comes from.
struct module_node {
  std::string name;
  semver version;
  std::filesystem::path file;
  std::vector<dependency> dependencies;  // in manifest order: the order matters (init order)
};

// Where nodes come from. A provider returns the node for a ref, or an error; for a name it
// must return module_not_found when there is no such module (a weak dependency then counts as
// absent) and the node it returns must carry that name.
using node_provider = std::function<result<module_node>(const module_ref&)>;

// The real provider: names through find_module on `search`, paths as given; each file read
// with read_image and parse_manifest. Errors: those of find_module, read_image and
// parse_manifest; manifest_missing for a file without a manifest; bad_module_name when the
// file found for a name carries another name in its manifest.
node_provider manifest_provider(module_search_path search);

// The node of the file at `file`, which the caller has just identified as `version`
// (identify_file): what manifest_provider gives for a path, without looking at the file
// again. Nodes are kept per file version for the process, as read_image_shared keeps images,
// so resolving the same unchanged files again parses no manifest. Thread-safe. Errors: those
// of read_image and parse_manifest; manifest_missing.
result<module_node> module_node_of(const std::filesystem::path& file, const file_identity& version);

// A provider over nodes held in memory, for tests, benchmarks and tools: a name gives the
// first node with that name, a path the node with that file. Errors: module_not_found.
node_provider memory_provider(std::vector<module_node> nodes);

// Why a module is in the graph: asked for by the host, or named by another module.
struct module_reason {
  std::optional<std::size_t> dependent;  // index of the module that needs it; none: requested
  dependency_kind kind = dependency_kind::required;
  std::string range;  // the dependent's range text ("^2.0"), "" if requested
};

// One dependency of a resolved module, in manifest order.
struct resolved_dependency {
  std::string name;
  dependency_kind kind = dependency_kind::required;
  std::string range;
  // Index of the module it resolved to; none only for a weak dependency that is absent. The
  // module is told: this is the flag the registry passes on.
  std::optional<std::size_t> target;
  // Why a weak dependency is absent ("not found in ..." or "1.4.2 is outside ^2.0").
  std::string absent_reason;

  bool present() const noexcept { return target.has_value(); }
};

struct resolved_module {
  std::string name;
  semver version;
  std::filesystem::path file;
  std::vector<resolved_dependency> dependencies;
  // The same dependencies as the manifest declares them, ranges parsed (dependencies[i] is
  // declared[i]): what the registry keeps for the loaded module.
  std::vector<dependency> declared;
  std::vector<module_reason> reasons;  // every reason, in the order they were found
  bool requested() const noexcept;
};

// The result of resolve_graph: every module once, and the two orders as indices into
// modules(). Each order holds every module exactly once.
class module_graph {
 public:
  // Discovery order: requested modules first, then breadth-first along dependencies.
  const std::vector<resolved_module>& modules() const noexcept { return modules_; }
  // The requested modules, in the order asked, each once.
  const std::vector<std::size_t>& requested() const noexcept { return requested_; }
  const std::vector<std::size_t>& load_order() const noexcept { return load_order_; }
  const std::vector<std::size_t>& init_order() const noexcept { return init_order_; }

  // The index of the module called `name`, if it is in the graph.
  std::optional<std::size_t> find(std::string_view name) const;
  // "requested; required by app (^2.0); weak dependency of tool (*)": why a module is here;
  // "" for an index past the end.
  std::string why(std::size_t module) const;

 private:
  friend result<module_graph> resolve_graph(std::span<const module_ref>, const node_provider&);
  std::vector<resolved_module> modules_;
  std::vector<std::size_t> requested_;
  std::vector<std::size_t> load_order_;
  std::vector<std::size_t> init_order_;
  std::unordered_map<std::string, std::size_t> index_;
};

// Resolves `requests` and everything they depend on, transitively, through `provider`.
// Requests by path are resolved first, so a name that one of them carries is bound to that
// file (load-once: a name means one file in a graph); the orders still follow `requests`.
// Errors:
//   bad_module_name      a requested or depended-on name is not a module name, or a provider
//                        gave a node with another name than the one asked for
//   module_not_found     a required or upward dependency is missing; names who needs it
//   version_unsatisfied  "app: needs math ^2.0 but math is 1.4.2 (/lib/libmath.so); ..."
//   dependency_cycle     "a -> b -> c -> a": every module on a cycle of ordering edges
//   duplicate_module     two files carry the same module name: names both files
//   anything the provider returns (read_image's and parse_manifest's errors)
// A weak dependency that is missing or whose version is outside its range is not an error:
// its edge is marked absent, with the reason.
result<module_graph> resolve_graph(std::span<const module_ref> requests,
                                   const node_provider& provider);

}  // namespace livemod
