// The registry's internal state, shared by registry.cc (loading, unloading) and
// module_handle.cc (handles): what is loaded, in which namespace, what it needs, and what
// failed before. Everything mutable is guarded by registry_state::mutex, except what a record
// says it guards otherwise.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "livemod/library.h"
#include "livemod/registry.h"
#include "livemod/sdk/module.h"

namespace livemod::detail {

// What a passed preflight tells the later steps, kept per file version when cached.
struct preflight_verdict {
  struct entry_points entry;
  std::uint32_t manifest_abi = 0;
  // The module needs a sanitizer runtime that cannot be loaded twice in one process, so it
  // cannot get a private copy (ASan aborts the process, TSan runs out of static TLS).
  std::string sanitizer_runtime;
};

// One module a graph needs, as the module sees it from on_load (dependency_present).
struct dependency_flag {
  std::string name;
  dependency_kind kind = dependency_kind::required;
  bool present = false;
};

// What livemod_host_api.host points at: one per module, so a call knows who is calling.
struct host_context {
  livemod_host_api api{};
  registry_state* state = nullptr;
  module_record* record = nullptr;
  std::string last_error;  // the last error line logged during on_load, for the message
};

struct module_record {
  // Set before the record is published, never changed after.
  module_node node;
  namespace_id ns{};
  std::uint32_t link_map = 0;  // 0: the process's own; otherwise the isolated namespace's id
  file_identity identity;
  preflight_verdict verdict;
  std::vector<dependency_flag> dependency_flags;
  host_context context;

  // Guarded by registry_state::mutex; atomics so that handles can read them without it.
  std::atomic<module_state> state{module_state::resolved};
  std::atomic<std::size_t> handles{0};
  std::atomic<std::uint32_t> abi{0};
  std::vector<std::shared_ptr<module_record>> needs;  // present dependencies, all kinds
  std::uint64_t mark = 0;  // reachability walks: the epoch of the last walk that reached it
  std::uint64_t load_seq = 0;
  std::uint64_t init_seq = 0;  // 0 until on_load succeeded (or there is none)
  module_timing timing;

  // Guarded by lib_mutex: a symbol lookup must not race with the dlclose of an unload.
  mutable std::mutex lib_mutex;
  library lib;
};

struct namespace_entry {
  std::string name;
  bool isolated = false;
  // The dynamic linker's namespace; fresh until the first module of an isolated namespace
  // is mapped, and again once its last one is gone (glibc frees an empty namespace).
  link_namespace link = link_namespace::base;
  std::size_t mapped = 0;
  std::map<std::string, std::shared_ptr<module_record>, std::less<>> by_name;
};

using identity_key = std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>;  // link map, dev, ino

struct registry_state {
  explicit registry_state(registry_options o) : options(std::move(o)) {}

  const registry_options options;

  mutable std::mutex mutex;
  std::vector<namespace_entry> namespaces;  // indexed by namespace_id
  std::map<identity_key, std::shared_ptr<module_record>> loaded;
  std::map<file_identity, error> failed_inits;          // a failed on_load, by file version
  std::map<file_identity, preflight_verdict> preflights;  // passed checks, by file version
  std::uint64_t next_seq = 1;
  std::uint64_t mark_epoch = 0;
  // A handle released from inside an entry point cannot take the lock its caller holds: the
  // collection it may need waits for the end of that caller's operation.
  std::atomic<bool> collect_pending{false};

  std::recursive_mutex observers_mutex;
  std::vector<std::pair<std::uint64_t, registry::observer>> observers;
  std::uint64_t next_observer = 1;
};

// Releases one handle's reference (module_handle's destructor, reset()).
void release_reference(const std::shared_ptr<registry_state>& state,
                       const std::shared_ptr<module_record>& record) noexcept;

}  // namespace livemod::detail
