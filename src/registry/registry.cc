// The registry: load-once by file identity, namespaces, the lifecycle entry points in graph
// order, unloading by reachability, and the events observers see. docs/registry.md explains
// the rules; this file comments the reasons behind the code.
//
// A load runs in two phases. The first holds no lock: resolving the graph and the preflight
// of each file only read files, so concurrent loads do that work side by side. The second
// holds the registry's mutex from the first dlopen to the last on_load: the dynamic linker
// serialises opens anyway, and holding one lock across mapping and initialisation is what
// makes "N threads loading one module map it once and run on_load once" true without any
// per-module waiting (which could deadlock two graphs that wait on each other's modules).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "livemod/check.h"
#include "livemod/library.h"
#include "livemod/registry.h"
#include "livemod/resolve.h"
#include "livemod/sdk/module.h"
#include "registry/on_load_answer.h"
#include "registry/preflight_pool.h"
#include "registry/registry_state.h"

namespace livemod {
namespace detail {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

// Set while this thread runs an entry point or the log callback for a registry, whose mutex
// it then holds: a call back into that registry would deadlock, so it is refused instead.
thread_local const registry_state* t_in_callback = nullptr;

class callback_scope {
 public:
  explicit callback_scope(const registry_state* state) noexcept : previous_(t_in_callback) {
    t_in_callback = state;
  }
  ~callback_scope() { t_in_callback = previous_; }
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;

 private:
  const registry_state* previous_;
};

std::optional<error> refuse_reentry(const registry_state& state, std::string_view what) {
  if (t_in_callback != &state) return std::nullopt;
  return error(errc::load_failed, std::string(what),
               "called from a module's entry point or the registry's log callback, while the "
               "registry is loading or unloading",
               "do it after the entry point has returned (for instance from an observer, or "
               "from the thread that called load)");
}

nanoseconds since(clock::time_point start) {
  return std::chrono::duration_cast<nanoseconds>(clock::now() - start);
}

module_event event_for(module_state s, const module_record& r, const registry_state& state,
                       nanoseconds took) {
  module_event e;
  e.state = s;
  e.module = r.node.name;
  e.version = r.node.version.to_string();
  e.file = r.node.file;
  e.namespace_name = state.namespaces[static_cast<std::size_t>(r.ns)].name;
  e.took = took;
  return e;
}

// --- host_api: what a module can ask the host during on_load ----------------------------------

void host_log(void* host, int level, const char* message) noexcept {
  auto* ctx = static_cast<host_context*>(host);
  if (ctx == nullptr || message == nullptr) return;
  // Nothing may unwind into module code: a throwing logger is silenced here.
  try {
    if (level >= LIVEMOD_LOG_ERROR) ctx->last_error = message;
    if (ctx->state->options.log) {
      callback_scope scope(ctx->state);
      ctx->state->options.log(ctx->record->node.name, level, message);
    }
  } catch (...) {
  }
}

std::int32_t host_dependency_present(void* host, const char* name) noexcept {
  auto* ctx = static_cast<host_context*>(host);
  if (ctx == nullptr || name == nullptr) return -1;
  const std::string_view wanted(name);
  for (const dependency_flag& d : ctx->record->dependency_flags) {
    if (d.name == wanted) return d.present ? 1 : 0;
  }
  return -1;
}

// --- what a load works on ---------------------------------------------------------------------

// Whether a file version still needs its check before it is mapped into `link_map`: it is not
// loaded there, has no remembered failure and no cached verdict. Under the registry's mutex.
bool needs_check(const registry_state& s, const file_identity& id, std::uint32_t link_map) {
  if (s.loaded.contains({link_map, id.device, id.inode})) return false;
  if (s.failed_inits.contains(id)) return false;
  return !(s.options.cache_preflight && s.preflights.contains(id));
}

// Identities taken while resolving, by file: the load need not stat those files again.
using identity_cache = std::unordered_map<std::string, file_identity>;  // by path.native()

struct planned_module {
  std::size_t index = 0;  // in graph.modules()
  std::shared_ptr<module_record> existing;
  std::shared_ptr<module_record> created;
  std::optional<file_identity> identity;
  preflight_verdict verdict;
  module_timing timing;
  int generation = 0;
  bool checked = false;  // the preflight passed (or a cached verdict stands for it)
};

// dyld's generations (see resolve.h): the requested modules and what they reach through
// ordering edges first; targets of upward edges start the next generation.
std::vector<int> generations(const module_graph& graph) {
  const auto& mods = graph.modules();
  std::vector<int> gen(mods.size(), -1);
  std::vector<std::size_t> frontier(graph.requested().begin(), graph.requested().end());
  int g = 0;
  while (!frontier.empty()) {
    std::vector<std::size_t> stack;
    std::vector<std::size_t> members;
    for (std::size_t f : frontier) {
      if (gen[f] != -1) continue;
      gen[f] = g;
      stack.push_back(f);
    }
    while (!stack.empty()) {
      const std::size_t m = stack.back();
      stack.pop_back();
      members.push_back(m);
      for (const resolved_dependency& d : mods[m].dependencies) {
        if (!d.target || d.kind == dependency_kind::upward) continue;
        if (gen[*d.target] != -1) continue;
        gen[*d.target] = g;
        stack.push_back(*d.target);
      }
    }
    frontier.clear();
    for (std::size_t m : members) {
      for (const resolved_dependency& d : mods[m].dependencies) {
        if (d.target && d.kind == dependency_kind::upward && gen[*d.target] == -1)
          frontier.push_back(*d.target);
      }
    }
    ++g;
  }
  for (int& x : gen)
    if (x == -1) x = g;  // cannot happen for a graph resolve_graph made; keep them last
  return gen;
}

}  // namespace

class state_access {
 public:
  explicit state_access(std::shared_ptr<registry_state> s) : s_(std::move(s)) {}

  void deliver(const std::vector<module_event>& events) {
    if (events.empty()) return;
    std::lock_guard lock(s_->observers_mutex);
    // A copy: an observer may add or remove observers while it is called.
    const auto observers = s_->observers;
    for (const module_event& e : events) {
      for (const auto& [id, callback] : observers) {
        // Still registered? remove_observer promises no call after it returns.
        const bool live = std::any_of(s_->observers.begin(), s_->observers.end(),
                                      [id = id](const auto& o) { return o.first == id; });
        if (!live) continue;
        try {
          callback(e);
        } catch (...) {
          // An observer's failure is its own; the registry's state is already final.
        }
      }
    }
  }

  // --- loading (phase one, no lock) ---

  // `seen` holds the identities the resolve step already took (registry::load); a graph
  // resolved elsewhere (load_graph) has none, and every file is looked at again. `checks` may
  // be running some of the graph's checks already (the resolve step submits them).
  result<std::vector<module_handle>> load(const module_graph& graph, const load_options& options,
                                          nanoseconds resolve_time, clock::time_point started,
                                          registry_detail::preflight_pool& checks,
                                          const identity_cache& seen = {}) {
    std::vector<module_event> events;
    load_report report;
    report.resolve = resolve_time;
    auto r = load_locked_phases(graph, options, report, events, checks, seen);
    report.total = since(started);
    if (options.report != nullptr) *options.report = std::move(report);
    deliver(events);
    collect_if_pending();
    return r;
  }

  // --- unloading ---

  // Unloads `doomed` (all loaded): on_unload dependents first, then dlclose. Under the mutex.
  void unload_set(std::vector<std::shared_ptr<module_record>> doomed,
                  std::vector<module_event>& events) {
    std::sort(doomed.begin(), doomed.end(),
              [](const auto& a, const auto& b) { return a->init_seq > b->init_seq; });
    std::map<module_record*, nanoseconds> took;
    for (const auto& r : doomed) {
      const auto start = clock::now();
      if (r->init_seq != 0 && !r->verdict.entry.on_unload.empty()) call_on_unload(*r);
      took[r.get()] = since(start);
    }
    std::sort(doomed.begin(), doomed.end(),
              [](const auto& a, const auto& b) { return a->load_seq > b->load_seq; });
    for (const auto& r : doomed) {
      const auto start = clock::now();
      close_record(*r);
      events.push_back(event_for(module_state::unloaded, *r, *s_, took[r.get()] + since(start)));
    }
  }

  // Every loaded module that no handle reaches through the dependency edges; `without` counts
  // one handle less (the one an unload is about to give up). Marks with an epoch rather than
  // a set: releasing the roots of a large graph one by one walks it once per root.
  std::vector<std::shared_ptr<module_record>> unreachable(
      const module_record* without = nullptr) const {
    const std::uint64_t epoch = ++s_->mark_epoch;
    std::vector<module_record*> stack;
    for (const auto& [key, r] : s_->loaded) {
      const bool held = r->handles.load() > (r.get() == without ? 1u : 0u);
      if (held && r->mark != epoch) {
        r->mark = epoch;
        stack.push_back(r.get());
      }
    }
    while (!stack.empty()) {
      module_record* r = stack.back();
      stack.pop_back();
      for (const auto& d : r->needs) {
        if (d->mark == epoch) continue;
        d->mark = epoch;
        stack.push_back(d.get());
      }
    }
    std::vector<std::shared_ptr<module_record>> out;
    for (const auto& [key, r] : s_->loaded)
      if (r->mark != epoch) out.push_back(r);
    return out;
  }

  void collect(std::vector<module_event>& events) { unload_set(unreachable(), events); }

  void collect_if_pending() {
    if (!s_->collect_pending.exchange(false)) return;
    std::vector<module_event> events;
    {
      std::lock_guard lock(s_->mutex);
      collect(events);
    }
    deliver(events);
  }

  result<std::vector<std::string>> unload(const std::shared_ptr<module_record>& record,
                                          unload_mode mode) {
    std::vector<module_event> events;
    std::vector<std::string> gone;
    {
      std::lock_guard lock(s_->mutex);
      if (record->state.load() == module_state::unloaded) {
        return fail(errc::module_unloaded, record->node.name, "is not loaded any more",
                    "load it again");
      }
      if (mode == unload_mode::refuse_if_needed && record->handles.load() == 1) {
        // Would it stay, needed by what remains? Then say who needs it.
        auto doomed = unreachable(record.get());
        const bool stays = std::none_of(doomed.begin(), doomed.end(),
                                        [&](const auto& r) { return r == record; });
        if (stays) {
          std::set<const module_record*> going;
          for (const auto& r : doomed) going.insert(r.get());
          std::string who;
          for (const auto& [key, r] : s_->loaded) {
            if (going.contains(r.get()) || r == record) continue;
            for (const auto& d : r->needs) {
              if (d != record) continue;
              who += (who.empty() ? "" : ", ") + r->node.name;
              break;
            }
          }
          return fail(errc::module_in_use, record->node.name,
                      "is still needed by " + (who.empty() ? std::string("other modules") : who),
                      "unload those first, or unload with unload_mode::cascade");
        }
      }
      if (mode == unload_mode::cascade) {
        // Everything that reaches the module through dependency edges goes with it.
        std::set<module_record*> dependents{record.get()};
        bool grew = true;
        while (grew) {
          grew = false;
          for (const auto& [key, r] : s_->loaded) {
            if (dependents.contains(r.get())) continue;
            for (const auto& d : r->needs) {
              if (!dependents.contains(d.get())) continue;
              dependents.insert(r.get());
              grew = true;
              break;
            }
          }
        }
        for (module_record* r : dependents) r->handles.store(0);
      } else {
        record->handles.fetch_sub(1);
      }
      const std::size_t before = events.size();
      collect(events);
      for (std::size_t i = before; i < events.size(); ++i) gone.push_back(events[i].module);
    }
    deliver(events);
    collect_if_pending();
    return gone;
  }

  void release(const std::shared_ptr<module_record>& record) {
    if (t_in_callback == s_.get()) {
      // The caller holds the mutex further up this thread's stack.
      if (record->handles.load() > 0) record->handles.fetch_sub(1);
      s_->collect_pending.store(true);
      return;
    }
    std::vector<module_event> events;
    {
      std::lock_guard lock(s_->mutex);
      if (record->state.load() == module_state::unloaded || record->handles.load() == 0) return;
      if (record->handles.fetch_sub(1) == 1) collect(events);
    }
    deliver(events);
  }

  void unload_all() {
    std::vector<module_event> events;
    {
      std::lock_guard lock(s_->mutex);
      std::vector<std::shared_ptr<module_record>> all;
      for (const auto& [key, r] : s_->loaded) all.push_back(r);
      unload_set(std::move(all), events);
    }
    deliver(events);
  }

 private:
  result<std::vector<module_handle>> load_locked_phases(const module_graph& graph,
                                                        const load_options& options,
                                                        load_report& report,
                                                        std::vector<module_event>& events,
                                                        registry_detail::preflight_pool& checks,
                                                        const identity_cache& seen) {
    const auto& mods = graph.modules();
    const auto ns_index = static_cast<std::size_t>(options.where);
    bool isolated = false;
    std::string ns_name;
    {
      std::lock_guard lock(s_->mutex);
      if (ns_index >= s_->namespaces.size()) {
        return fail(errc::load_failed, std::to_string(ns_index), "no such namespace",
                    "create it with registry::create_namespace first");
      }
      isolated = s_->namespaces[ns_index].isolated;
      ns_name = s_->namespaces[ns_index].name;
    }
    const std::uint32_t link_map = isolated ? static_cast<std::uint32_t>(ns_index) : 0;
    // Events cost a few strings each, four per module: a load nobody observes builds none.
    bool observed = false;
    {
      std::lock_guard lock(s_->observers_mutex);
      observed = !s_->observers.empty();
    }

    // An event about a module of the graph that has no record yet (resolved, or failed before
    // it was mapped).
    auto graph_event = [&](module_state state, const resolved_module& m) {
      module_event e;
      e.state = state;
      e.module = m.name;
      e.version = m.version.to_string();
      e.file = m.file;
      e.namespace_name = ns_name;
      return e;
    };
    if (observed) {
      for (const resolved_module& m : mods) {
        module_event e = graph_event(module_state::resolved, m);
        e.took = report.resolve;
        events.push_back(std::move(e));
      }
    }

    auto failed_event = [&](const resolved_module& m, const error& why) {
      module_event e = graph_event(module_state::failed, m);
      e.failure = why;
      events.push_back(std::move(e));
    };

    // Phase one: identities and preflight, without the lock.
    const auto preflight_start = clock::now();
    const std::vector<int> gen = generations(graph);
    std::vector<planned_module> plan(mods.size());
    std::vector<std::optional<result<file_identity>>> identities(mods.size());
    for (std::size_t i : graph.load_order()) {
      auto seen_id = seen.find(mods[i].file.native());
      identities[i] = seen_id != seen.end() ? result<file_identity>(seen_id->second)
                                            : identify_file(mods[i].file);
    }
    // The modules that will need a check (not loaded, no remembered failure, no cached
    // verdict) go to the pool, which has most of them from the resolve step already; the loop
    // below then takes the verdicts in load order exactly as it would check one module after
    // the other, and so reports the same first failure.
    {
      std::lock_guard lock(s_->mutex);
      for (std::size_t i : graph.load_order()) {
        if (!*identities[i]) continue;
        const file_identity& id = **identities[i];
        if (needs_check(*s_, id, link_map)) checks.submit(mods[i].file, id);
      }
    }
    for (std::size_t i : graph.load_order()) {
      planned_module& p = plan[i];
      const resolved_module& m = mods[i];
      p.index = i;
      p.generation = gen[i];
      result<file_identity> id = std::move(*identities[i]);
      std::shared_ptr<module_record> by_name;
      {
        std::lock_guard lock(s_->mutex);
        auto& names = s_->namespaces[ns_index].by_name;
        if (auto it = names.find(m.name); it != names.end()) by_name = it->second;
        if (id) {
          if (auto it = s_->loaded.find({link_map, id->device, id->inode}); it != s_->loaded.end())
            p.existing = it->second;
        }
      }
      if (!id) {
        // Loaded already from this very path: the module is there even if its file is not.
        if (by_name && by_name->node.file == m.file) {
          p.existing = by_name;
          continue;
        }
        error why = id.error();
        if (why.code() == errc::file_not_found) {
          why = error(errc::file_not_found, m.file.string(),
                      "was resolved as module '" + m.name + "' but the file is gone now",
                      "put the file back, or resolve the graph again");
        }
        failed_event(m, why);
        return fail(std::move(why));
      }
      p.identity = *id;
      if (p.existing) continue;

      std::optional<preflight_verdict> cached;
      {
        std::lock_guard lock(s_->mutex);
        if (auto it = s_->failed_inits.find(*id); it != s_->failed_inits.end()) {
          failed_event(m, it->second);
          return fail(it->second);
        }
        if (s_->options.cache_preflight) {
          if (auto it = s_->preflights.find(*id); it != s_->preflights.end()) cached = it->second;
        }
      }
      if (cached) {
        p.verdict = std::move(*cached);
        p.timing.preflight_cached = true;
      } else {
        registry_detail::early_verdict taken = checks.take(m.file, *id);
        if (taken.thrown) std::rethrow_exception(taken.thrown);
        result<preflight_verdict> verdict = std::move(taken.verdict);
        p.timing.check = taken.took;
        if (!verdict) {
          failed_event(m, verdict.error());
          return fail(verdict.error());
        }
        p.verdict = std::move(*verdict);
        if (s_->options.cache_preflight) {
          std::lock_guard lock(s_->mutex);
          s_->preflights.insert_or_assign(*id, p.verdict);
        }
      }
      if (observed) {
        module_event e;
        e.state = module_state::checked;
        e.module = m.name;
        e.version = m.version.to_string();
        e.file = m.file;
        e.namespace_name = ns_name;
        e.took = p.timing.check;
        events.push_back(std::move(e));
      }
      p.checked = true;
      if (isolated && !p.verdict.sanitizer_runtime.empty()) {
        error why = isolation_error(m, p);
        failed_event(m, why);
        return fail(std::move(why));
      }
    }

    report.preflight = since(preflight_start);
    checks.finish();

    // Phase two: map and initialise under the lock.
    std::vector<module_handle> handles;
    {
      std::lock_guard lock(s_->mutex);
      if (auto refused = decide(graph, plan, ns_index, link_map, ns_name, failed_event))
        return fail(std::move(*refused));

      std::vector<std::shared_ptr<module_record>> mapped;  // in the order they were mapped
      // What this load mapped goes again (on_unload for what it initialised); the events
      // say so after the failure.
      auto roll_back = [&] { unload_set(mapped, events); };

      const int generations_count = gen.empty() ? 0 : *std::max_element(gen.begin(), gen.end()) + 1;
      for (int g = 0; g < generations_count; ++g) {
        // The records first, then the maps in a tight loop: building a record between two
        // dlopens evicts the dynamic linker's working set, and made the maps measurably
        // slower (bench/RESULTS.md, "## registry").
        std::vector<std::pair<std::size_t, std::shared_ptr<module_record>>> records;
        for (std::size_t i : graph.load_order()) {
          planned_module& p = plan[i];
          if (p.generation != g || p.existing) continue;
          records.emplace_back(i, make_record(graph, p, options.where, link_map));
        }
        for (auto& [i, record] : records) {
          planned_module& p = plan[i];
          auto opened = map_record(*record, s_->namespaces[ns_index]);
          if (!opened) {
            failed_event(mods[i], opened.error());
            roll_back();
            return fail(std::move(opened.error()));
          }
          record->load_seq = s_->next_seq++;
          record->state.store(module_state::mapped);
          p.created = record;
          mapped.push_back(record);
          s_->loaded.emplace(identity_key{link_map, p.identity->device, p.identity->inode}, record);
          s_->namespaces[ns_index].by_name.insert_or_assign(record->node.name, record);
          if (observed)
            events.push_back(event_for(module_state::mapped, *record, *s_, record->timing.map));
        }
        for (std::size_t i : graph.init_order()) {
          planned_module& p = plan[i];
          if (p.generation != g || !p.created) continue;
          module_record& r = *p.created;
          auto ok = initialize(r);
          if (!ok) {
            if (ok.error().code() == errc::init_failed || ok.error().code() == errc::abi_unsupported)
              s_->failed_inits.insert_or_assign(r.identity, ok.error());
            r.state.store(module_state::failed);
            failed_event(mods[i], ok.error());
            roll_back();
            return fail(std::move(ok.error()));
          }
          r.init_seq = s_->next_seq++;
          r.state.store(module_state::initialized);
          if (observed) events.push_back(event_for(module_state::initialized, r, *s_, r.timing.init));
        }
      }

      // Commit: dependency edges, then the references the caller gets.
      for (std::size_t i : graph.load_order()) {
        planned_module& p = plan[i];
        if (!p.created) continue;
        for (const resolved_dependency& d : mods[i].dependencies) {
          if (!d.target) continue;
          const planned_module& t = plan[*d.target];
          auto target = t.created ? t.created : t.existing;
          if (target && target != p.created) p.created->needs.push_back(std::move(target));
        }
        report.loaded.push_back(p.created->timing);
      }
      for (std::size_t i : graph.load_order())
        if (plan[i].existing) report.reused.push_back(mods[i].name);
      for (std::size_t i : graph.requested()) {
        const planned_module& p = plan[i];
        auto record = p.created ? p.created : p.existing;
        record->handles.fetch_add(1);
        handles.push_back(module_handle(s_, record));
      }
    }
    return handles;
  }

  static error isolation_error(const resolved_module& m, const planned_module& p) {
    return error(errc::isolation_unavailable, m.file.string(),
                 "needs " + p.verdict.sanitizer_runtime +
                     ", which cannot be loaded a second time into a private namespace (ASan "
                     "aborts the process, TSan runs out of static TLS)",
                 "load it into a namespace that is not isolated, or use a build without "
                 "sanitizers");
  }

  static std::optional<error> refuse_isolation(const resolved_module& m, const planned_module& p,
                                               const namespace_entry& ns) {
    if (!ns.isolated || p.verdict.sanitizer_runtime.empty()) return std::nullopt;
    return isolation_error(m, p);
  }

  // Under the mutex: bind each module to what is loaded now, or refuse the load.
  template <class on_fail>
  std::optional<error> decide(const module_graph& graph, std::vector<planned_module>& plan,
                              std::size_t ns_index, std::uint32_t link_map,
                              const std::string& ns_name, on_fail& failed_event) {
    const auto& mods = graph.modules();
    namespace_entry& ns = s_->namespaces[ns_index];
    for (std::size_t i : graph.load_order()) {
      planned_module& p = plan[i];
      const resolved_module& m = mods[i];
      if (p.identity) {
        auto it = s_->loaded.find({link_map, p.identity->device, p.identity->inode});
        p.existing = it != s_->loaded.end() ? it->second : nullptr;
      } else if (p.existing && p.existing->state.load() == module_state::unloaded) {
        p.existing = nullptr;  // it went while this thread was not holding the lock
      }
      if (!p.identity && !p.existing) {
        error why(errc::file_not_found, m.file.string(),
                  "was resolved as module '" + m.name + "' but the file is gone now",
                  "put the file back, or resolve the graph again");
        failed_event(m, why);
        return why;
      }
      if (p.existing) {
        if (p.existing->ns != static_cast<namespace_id>(ns_index)) {
          const std::string& owner =
              s_->namespaces[static_cast<std::size_t>(p.existing->ns)].name;
          error why(errc::namespace_conflict, m.file.string(),
                    "module '" + m.name + "' is owned by namespace '" + owner +
                        "', which shares the process's link map with '" + ns_name + "'",
                    "load it through namespace '" + owner + "', or make '" + ns_name +
                        "' isolated to give it a private copy");
          failed_event(m, why);
          return why;
        }
        continue;
      }
      if (auto it = ns.by_name.find(m.name); it != ns.by_name.end()) {
        error why(errc::duplicate_module, m.file.string(),
                  "carries the module name '" + m.name + "', which namespace '" + ns_name +
                      "' has loaded from " + it->second->node.file.string() +
                      " (another file)",
                  "unload the loaded one first, or give one of them another name");
        failed_event(m, why);
        return why;
      }
      if (auto it = s_->failed_inits.find(*p.identity); it != s_->failed_inits.end()) {
        failed_event(m, it->second);
        return it->second;
      }
      if (!p.checked) {
        // It was loaded when phase one looked and has gone since: check it now, under the
        // lock (rare), rather than map anything unchecked.
        const auto start = clock::now();
        auto verdict = registry_detail::run_preflight(m.file, *p.identity, s_->options.preflight);
        p.timing.check = since(start);
        if (!verdict) {
          failed_event(m, verdict.error());
          return verdict.error();
        }
        p.verdict = std::move(*verdict);
        p.checked = true;
        if (auto refused = refuse_isolation(m, p, ns)) {
          failed_event(m, *refused);
          return refused;
        }
      }
    }
    return std::nullopt;
  }

  std::shared_ptr<module_record> make_record(const module_graph& graph, const planned_module& p,
                                             namespace_id ns, std::uint32_t link_map) {
    const resolved_module& m = graph.modules()[p.index];
    auto r = std::make_shared<module_record>();
    r->node.name = m.name;
    r->node.version = m.version;
    r->node.file = m.file;
    r->node.dependencies = m.declared;
    r->dependency_flags.reserve(m.dependencies.size());
    for (const resolved_dependency& d : m.dependencies)
      r->dependency_flags.push_back(dependency_flag{d.name, d.kind, d.present()});
    r->ns = ns;
    r->link_map = link_map;
    r->identity = *p.identity;
    r->verdict = p.verdict;
    r->abi.store(p.verdict.manifest_abi);
    // The timing row names the module here: only modules this load maps get one.
    r->timing = p.timing;
    r->timing.module = m.name;
    r->timing.version = m.version.to_string();
    r->timing.namespace_name = s_->namespaces[static_cast<std::size_t>(ns)].name;
    r->timing.file = m.file;
    r->context.state = s_.get();
    r->context.record = r.get();
    r->context.api.size = sizeof(livemod_host_api);
    r->context.api.abi_version = LIVEMOD_ABI_VERSION;
    r->context.api.log = &host_log;
    r->context.api.host = &r->context;
    r->context.api.dependency_present = &host_dependency_present;
    return r;
  }

  result<void> map_record(module_record& r, namespace_entry& ns) {
    const auto start = clock::now();
    result<library> lib = ns.isolated ? library::open_in(ns.mapped == 0 ? link_namespace::fresh : ns.link,
                                                        r.node.file)
                                      : library::open(r.node.file);
    r.timing.map = since(start);
    if (!lib) return fail(std::move(lib.error()));
    if (ns.isolated && ns.mapped == 0) {
      auto id = lib->namespace_id();
      if (!id) return fail(std::move(id.error()));
      ns.link = *id;
    }
    ++ns.mapped;
    std::lock_guard lock(r.lib_mutex);
    r.lib = std::move(*lib);
    return {};
  }

  result<void> initialize(module_record& r) {
    const std::string& entry = r.verdict.entry.on_load;
    if (entry.empty()) return {};
    const std::string& file = r.node.file.native();
    result<livemod_on_load_fn> fn = [&]() -> result<livemod_on_load_fn> {
      std::lock_guard lock(r.lib_mutex);
      return r.lib.symbol<std::remove_pointer_t<livemod_on_load_fn>>(entry);
    }();
    if (!fn) {
      return fail(errc::symbol_not_found, file,
                  "its manifest names the entry point on_load '" + entry +
                      "', which the module does not export",
                  "export it (LIVEMOD_EXPORT, extern \"C\") or fix entry_points.on_load");
    }
    r.context.last_error.clear();
    const auto start = clock::now();
    std::int32_t rc = 0;
    {
      callback_scope scope(s_.get());
      rc = (**fn)(&r.context.api, LIVEMOD_ABI_VERSION);
    }
    r.timing.init = since(start);
    auto abi = registry_detail::read_on_load_answer(
        rc, r.node.name, file, r.context.last_error,
        "fix what the module reports; the same unchanged file will not be run again until it "
        "changes");
    if (!abi) return fail(std::move(abi.error()));
    r.abi.store(*abi);
    return {};
  }

  void call_on_unload(module_record& r) {
    result<livemod_on_unload_fn> fn = [&]() -> result<livemod_on_unload_fn> {
      std::lock_guard lock(r.lib_mutex);
      return r.lib.symbol<std::remove_pointer_t<livemod_on_unload_fn>>(r.verdict.entry.on_unload);
    }();
    if (!fn) return;  // nothing to call: the module is unloaded all the same
    callback_scope scope(s_.get());
    (**fn)();
  }

  void close_record(module_record& r) {
    {
      std::lock_guard lock(r.lib_mutex);
      // A failing dlclose leaves the image mapped; the registry forgets it either way.
      (void)r.lib.close();
    }
    r.state.store(module_state::unloaded);
    r.handles.store(0);
    r.needs.clear();
    const auto ns_index = static_cast<std::size_t>(r.ns);
    namespace_entry& ns = s_->namespaces[ns_index];
    if (auto it = ns.by_name.find(r.node.name); it != ns.by_name.end() && it->second.get() == &r)
      ns.by_name.erase(it);
    s_->loaded.erase(identity_key{r.link_map, r.identity.device, r.identity.inode});
    if (ns.mapped > 0) --ns.mapped;
    if (ns.isolated && ns.mapped == 0) ns.link = link_namespace::fresh;
  }

  std::shared_ptr<registry_state> s_;
};

void release_reference(const std::shared_ptr<registry_state>& state,
                       const std::shared_ptr<module_record>& record) noexcept {
  try {
    state_access(state).release(record);
  } catch (...) {
    // Releasing cannot report; the module stays loaded until the registry goes.
  }
}

}  // namespace detail

using detail::registry_state;
using detail::state_access;

std::string_view to_string(module_state state) {
  switch (state) {
    case module_state::resolved: return "resolved";
    case module_state::checked: return "checked";
    case module_state::mapped: return "mapped";
    case module_state::initialized: return "initialized";
    case module_state::failed: return "failed";
    case module_state::unloaded: return "unloaded";
  }
  return "unknown";
}

registry::registry(registry_options options)
    : state_(std::make_shared<registry_state>(std::move(options))) {
  detail::namespace_entry def;
  def.name = "default";
  state_->namespaces.push_back(std::move(def));
}

registry::~registry() {
  try {
    state_access(state_).unload_all();
  } catch (...) {
  }
}

result<namespace_id> registry::create_namespace(std::string name, namespace_options options) {
  if (auto refused = detail::refuse_reentry(*state_, name)) return fail(std::move(*refused));
  if (!valid_module_name(name) || name.find("..") != std::string::npos || name == "default") {
    return fail(errc::bad_module_name, name,
                "is not a namespace name: it must be like a module name ([a-z0-9_][a-z0-9_.-]*, "
                "at most 64 characters, no \"..\") and not \"default\"",
                "choose another name");
  }
  try {
    std::lock_guard lock(state_->mutex);
    for (const auto& ns : state_->namespaces) {
      if (ns.name == name) {
        return fail(errc::namespace_conflict, name, "a namespace of that name exists",
                    "choose another name, or use the one that exists");
      }
    }
    detail::namespace_entry ns;
    ns.name = std::move(name);
    ns.isolated = options.isolated;
    ns.link = options.isolated ? link_namespace::fresh : link_namespace::base;
    state_->namespaces.push_back(std::move(ns));
    return static_cast<namespace_id>(state_->namespaces.size() - 1);
  } catch (const std::exception& e) {
    return fail(errc::load_failed, name, std::string("could not create the namespace: ") + e.what());
  }
}

std::string registry::namespace_name(namespace_id id) const {
  std::lock_guard lock(state_->mutex);
  const auto i = static_cast<std::size_t>(id);
  return i < state_->namespaces.size() ? state_->namespaces[i].name : std::string();
}

result<module_handle> registry::load(const module_ref& ref, const load_options& options) {
  auto handles = load(std::span<const module_ref>(&ref, 1), options);
  if (!handles) return fail(std::move(handles.error()));
  return std::move(handles->front());
}

result<std::vector<module_handle>> registry::load(std::span<const module_ref> refs,
                                                  const load_options& options) {
  const auto started = detail::clock::now();
  std::string what = refs.empty() ? std::string() : refs.front().display();
  if (auto refused = detail::refuse_reentry(*state_, what)) return fail(std::move(*refused));
  try {
    const auto ns_index = static_cast<std::size_t>(options.where);
    std::uint32_t link_map = 0;
    {
      std::lock_guard lock(state_->mutex);
      if (ns_index < state_->namespaces.size() && state_->namespaces[ns_index].isolated)
        link_map = static_cast<std::uint32_t>(ns_index);
    }
    // The checks start as resolve finds the files, on other cores while it reads the rest.
    registry_detail::preflight_pool checks(state_->options.preflight,
                                           state_->options.preflight_threads);
    const module_search_path& search = state_->options.search;
    node_provider from_files = manifest_provider(search);
    registry_state& st = *state_;
    detail::identity_cache seen;
    node_provider provider = [&](const module_ref& ref) -> result<module_node> {
      if (!ref.is_path()) {
        // A name this namespace has loaded resolves to the loaded module, as ld.so matches a
        // loaded object's name before it searches: no file is looked at.
        std::lock_guard lock(st.mutex);
        if (ns_index < st.namespaces.size()) {
          const auto& names = st.namespaces[ns_index].by_name;
          if (auto it = names.find(ref.name()); it != names.end()) return it->second->node;
        }
      }
      // One stat per module: the search identifies each candidate in turn (as ld.so opens and
      // fstats it), and that identity keys the node cache (module_node_of) and stands for the
      // stat the preflight would make. Anything unusual (not found, not a regular file, a name
      // that differs) goes the long way, which gives the precise error.
      std::filesystem::path file;
      std::optional<file_identity> id;
      if (ref.is_path()) {
        file = ref.path();
        if (auto found = identify_file(file)) id = *found;
      } else if (check_module_name(ref.name())) {
        // module_candidates' order, each path made only when the one before is missing.
        const std::string name = platform_file_name(ref.name());
        for (const auto& entry : search.entries()) {
          std::filesystem::path candidate = entry.dir / name;
          auto found = identify_file(candidate);
          if (found) {
            file = std::move(candidate);
            id = *found;
            break;
          }
          if (found.error().code() != errc::file_not_found) break;
        }
      }
      if (!id) return from_files(ref);
      seen.insert_or_assign(file.native(), *id);
      {
        std::lock_guard lock(st.mutex);
        if (detail::needs_check(st, *id, link_map)) checks.submit(file, *id);
      }
      auto node = module_node_of(file, *id);
      if (!node) return fail(std::move(node.error()));
      if (!ref.is_path() && node->name != ref.name()) return from_files(ref);
      return node;
    };
    const auto start = detail::clock::now();
    auto graph = resolve_graph(refs, provider);
    const auto resolve_time = detail::since(start);
    if (!graph) {
      if (options.report != nullptr) {
        *options.report = load_report{};
        options.report->resolve = resolve_time;
        options.report->total = detail::since(started);
      }
      return fail(std::move(graph.error()));
    }
    return state_access(state_).load(*graph, options, resolve_time, started, checks, seen);
  } catch (const std::exception& e) {
    return fail(errc::load_failed, what, std::string("the load could not complete: ") + e.what());
  }
}

result<std::vector<module_handle>> registry::load_graph(const module_graph& graph,
                                                        const load_options& options) {
  const auto started = detail::clock::now();
  if (auto refused = detail::refuse_reentry(*state_, "load_graph")) return fail(std::move(*refused));
  try {
    registry_detail::preflight_pool checks(state_->options.preflight,
                                           state_->options.preflight_threads);
    return state_access(state_).load(graph, options, {}, started, checks);
  } catch (const std::exception& e) {
    return fail(errc::load_failed, "", std::string("the load could not complete: ") + e.what());
  }
}

result<std::vector<std::string>> registry::unload(module_handle& handle, unload_mode mode) {
  if (!handle.record_ || handle.state_ != state_) {
    return fail(errc::module_unloaded, handle.record_ ? handle.record_->node.name : "",
                handle.record_ ? "belongs to another registry" : "the handle is empty",
                "pass a handle this registry's load returned");
  }
  if (auto refused = detail::refuse_reentry(*state_, handle.record_->node.name))
    return fail(std::move(*refused));
  try {
    auto gone = state_access(state_).unload(handle.record_, mode);
    if (gone) {
      // The reference was given up inside unload: the handle must not release it again.
      handle.state_.reset();
      handle.record_.reset();
    }
    return gone;
  } catch (const std::exception& e) {
    return fail(errc::load_failed, handle.record_->node.name,
                std::string("the unload could not complete: ") + e.what());
  }
}

std::vector<module_info> registry::modules() const {
  std::lock_guard lock(state_->mutex);
  std::vector<std::shared_ptr<detail::module_record>> all;
  for (const auto& [key, r] : state_->loaded) all.push_back(r);
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a->load_seq < b->load_seq; });
  std::vector<module_info> out;
  for (const auto& r : all) {
    module_info info;
    info.name = r->node.name;
    info.version = r->node.version;
    info.file = r->node.file;
    info.namespace_name = state_->namespaces[static_cast<std::size_t>(r->ns)].name;
    info.state = r->state.load();
    info.abi = r->abi.load();
    info.handles = r->handles.load();
    for (const auto& d : r->needs) info.needs.push_back(d->node.name);
    for (const auto& other : all) {
      for (const auto& d : other->needs) {
        if (d != r) continue;
        info.needed_by.push_back(other->node.name);
        break;
      }
    }
    info.timing = r->timing;
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<module_timing> registry::timings() const {
  std::vector<module_timing> out;
  for (auto& m : modules()) out.push_back(std::move(m.timing));
  return out;
}

std::uint64_t registry::add_observer(observer callback) {
  std::lock_guard lock(state_->observers_mutex);
  const std::uint64_t id = state_->next_observer++;
  state_->observers.emplace_back(id, std::move(callback));
  return id;
}

void registry::remove_observer(std::uint64_t id) {
  std::lock_guard lock(state_->observers_mutex);
  auto& list = state_->observers;
  list.erase(std::remove_if(list.begin(), list.end(), [id](const auto& o) { return o.first == id; }),
             list.end());
}

}  // namespace livemod
