// File: livemod/live.h
//
// Hot swap: a live_module hosts one module and replaces it with a new version while callers
// keep calling; live<Api> is the callers' handle to whichever version is current.
//
//   livemod::live_options opt;
//   opt.interface_id = "svc-api-1";                      // the table callers use
//   auto mod = livemod::live_module::create(opt);       // result<std::unique_ptr<live_module>>
//   (*mod)->swap_to("build/libsvc.so");                 // the first version
//   livemod::live<svc_api> svc(**mod);
//   auto n = svc.call([](const svc_api& a) { return a.version(); });   // result<int32_t>
//   { auto s = svc.scope(); for (...) s->bump(); }      // a batch under one read-side section
//
// A swap runs these steps; each failing step leaves the old version serving and reports an
// event with the cause (docs/hot-swap.md): stage (a copy in a private 0700 shadow dir under a
// name unique to the version), preflight (check() + same module name + compatible interface +
// no downgrade unless forced), load beside the old one (on_load with ABI negotiation and a
// timeout), migrate state (old save_state -> {schema, bytes} -> new restore_state), publish,
// health check, grace period (an RCU grace period: no thread is still inside the old table),
// on_unload and dlclose of the old image under the crash guard, and a check of /proc/self/maps
// that it is gone (or why not: image pins). A new version is on probation until one thread has
// made `probation_calls` calls to it (so at least that many calls in all are guarded); a crash
// in a guarded call rolls back to the previous version with the state that version had.
//
// Threads: live<Api>::call and scope are wait-free (an RCU read-side section, livemod/rcu.h,
// inlined: no lock, no atomic read-modify-write, no allocation, no store to a shared cache line)
// except during probation, when a call is guarded and counted in the calling thread's own
// counter (the one shared store ends probation). A
// thread is registered with RCU on its first call and unregistered when it exits. A scope must not be held across a swap
// request made on the same thread (swap_to waits for a grace period: it would wait for itself).
// swap_to, rollback and request_swap may be called from any thread, swaps run one at a time; the
// event callback runs on the thread that ran the swap (the engine's worker for request_swap and
// crash rollbacks), never concurrently with itself, with the engine's swap lock held: it may
// call request_swap, but not swap_to, rollback or wait_idle (they would wait for themselves). Destroying the live_module while a live<Api>
// call or scope is in progress is undefined: stop callers first.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "livemod/check.h"
#include "livemod/crash_guard.h"
#include "livemod/error.h"
#include "livemod/rcu.h"


namespace livemod {

class live_engine;
class library;

// One version of the hosted module, as a swap_participant sees it.
struct swap_version {
  std::uint64_t sequence = 0;        // the engine's number for it
  std::string_view module, version;  // the manifest's name and version
  const library* image = nullptr;    // the loaded image (look symbols up; do not close it)
};

// A layer that takes part in every swap (the object layer, livemod/object.h): it may refuse
// a version before it is published, learns when one serves, and may keep an old image mapped
// after the swap. Called on the thread running the swap, with the engine's swap lock held
// (one call at a time); it must not call swap_to, rollback or wait_idle.
class swap_participant {
 public:
  virtual ~swap_participant() = default;
  // After load and state migration, before publish (`from` is null for the first version;
  // `rollback` when going back to a version that served before). An error refuses the swap:
  // the new version is stopped and unloaded, the old one keeps serving.
  virtual result<void> prepare(const swap_version* from, const swap_version& to,
                               bool rollback) = 0;
  // `to` serves (after the health check passed).
  virtual void published(const swap_version* from, const swap_version& to, bool rollback) = 0;
  // The engine is about to run on_unload and dlclose of `old` (after its grace period).
  // true: go ahead. false: keep the image mapped; the participant calls unload_later() once,
  // from any thread, when nothing needs it any more; the engine's worker then unloads it and
  // reports `unloaded`. unload_later does nothing once the live_module is gone.
  virtual bool may_unload(const swap_version& old, std::function<void()> unload_later) = 0;
};

struct live_options {
  // The interface whose table callers use: one of the manifest's "interfaces" ids, found with
  // the module's livemod_get_api (livemod/sdk/state.h). Required.
  std::string interface_id;
  // Where versions are staged; empty: a fresh mkdtemp dir, mode 0700, removed with the
  // live_module, under $TMPDIR when set, else a memory file system ($XDG_RUNTIME_DIR or
  // /dev/shm, if writable and not noexec: staging is on the swap's critical path), else /tmp.
  std::filesystem::path shadow_dir;
  // How long on_load may run before the version is given up (its image stays loaded, abandoned).
  std::chrono::milliseconds on_load_timeout{2000};
  // Guarded calls a new version must serve before it is trusted; a crash before that rolls back.
  std::uint64_t probation_calls = 100;
  // Versions kept on disk for rollback (the current one included), at least 2.
  std::size_t history = 3;
  // Called after publish with the new table; an error rolls back to the previous version.
  std::function<result<void>(const void* api)> health_check;
  // Passed to check() at preflight.
  check_options check;
  // Called with every event, on the thread running the swap.
  std::function<void(const struct live_event&)> on_event;
  // Takes part in every swap (the object layer: object_runtime::participant()); may be null.
  std::shared_ptr<swap_participant> participant;
};

enum class live_event_kind : std::uint8_t {
  swapped,            // a new version serves (to_version); timings filled in
  refused,            // the swap stopped at `step`, the old version keeps serving; `cause` says why
  rolled_back,        // back to to_version after `cause` (a crash, a failed health check);
                      // no cause when rollback() asked for it
  unloaded,           // the old image was unmapped (from_version), timings of grace and unload
  unload_incomplete,  // the old image is still mapped; `cause` says why (pins, on_unload crashed)
  abandoned,          // on_load timed out: that image stays loaded and is never called again
};
std::string_view to_string(live_event_kind kind) noexcept;

enum class swap_step : std::uint8_t { stage, preflight, load, migrate, publish, health, grace, unload };
std::string_view to_string(swap_step step) noexcept;

struct swap_timings {
  std::chrono::nanoseconds stage{}, preflight{}, load{}, migrate{}, publish{}, grace{}, unload{};
  // request_swap -> the engine's worker starting the swap (0 for swap_to and rollback).
  std::chrono::nanoseconds queued{};
  // When the new table was published (steady clock): the first call by the new version comes
  // after this, and grace + unload after it again. Default (epoch) when nothing was published.
  std::chrono::steady_clock::time_point published_at{};
  std::chrono::nanoseconds to_publish() const { return stage + preflight + load + migrate + publish; }
};

struct live_event {
  live_event_kind kind = live_event_kind::swapped;
  swap_step step = swap_step::stage;
  std::string module;               // the manifest's name
  std::string from_version;         // "" when nothing served before
  std::string to_version;           // "" when nothing serves after
  std::uint64_t sequence = 0;       // the engine's number for the version concerned
  std::filesystem::path path;       // the file the swap came from
  std::optional<error> cause;       // refused, rolled_back, unload_incomplete, abandoned
  swap_timings timings;
};

struct swap_flags {
  bool force = false;  // allow a downgrade
};

struct live_stats {
  std::uint64_t swaps = 0, refused = 0, rollbacks = 0, requested = 0, coalesced = 0;
  std::uint64_t unloaded = 0, unload_incomplete = 0, abandoned = 0;
};

namespace detail {
// One published version as callers see it; immutable but for the probation flag.
struct live_table {
  const void* api = nullptr;
  std::uint64_t sequence = 0;
  live_engine* engine = nullptr;
  std::uint64_t probation_limit = 0;
  std::atomic<bool> probation{false};
};

// What the engine publishes while no version serves (before the first, after the first one
// crashed, after shutdown), instead of a null pointer: its probation flag is set for good, so
// a call's one test of that flag also catches "nothing serves" and the fast path has no null
// test. Its api is null; nothing ever writes it.
extern live_table no_version_table;

// A guarded call during probation returned: counted in the calling thread's own counter (one
// every caller wrote was a cache line bouncing between the callers' cores through each new
// version's first calls). Probation ends when one thread has made probation_limit calls, so
// at least that many were guarded in all; the store that ends it is the only shared one.
// Inline, so a probation call touches no code page of the library but the guard's: right
// after a swap, each page is a TLB miss (the swap's shootdowns), a nested page walk in a VM.
struct probation_count {
  const live_engine* engine = nullptr;
  std::uint64_t sequence = 0;
  std::uint64_t calls = 0;
};
inline thread_local probation_count this_thread_probation;
inline void count_probation_call(live_table* t) noexcept {
  probation_count& mine = this_thread_probation;
  if (mine.engine != t->engine || mine.sequence != t->sequence) mine = {t->engine, t->sequence, 0};
  if (++mine.calls >= t->probation_limit) t->probation.store(false, std::memory_order_relaxed);
}
// A guarded call during probation crashed: asks the engine to roll back.
void probation_call_crashed(live_table* table, const error& cause) noexcept;
error no_version_error();
}  // namespace detail

class live_module {
 public:
  // Errors: swap_stage_failed (the shadow dir cannot be made), bad options (no interface_id).
  static result<std::unique_ptr<live_module>> create(live_options options);
  ~live_module();
  live_module(const live_module&) = delete;
  live_module& operator=(const live_module&) = delete;

  // Swaps to the file at `path` now, on this thread, and returns when the old version is
  // unloaded (or the swap refused). The first call loads the first version. Errors (the old
  // version keeps serving): swap_stage_failed, swap_preflight_failed with the check's finding,
  // module_renamed, interface_incompatible, downgrade_refused, init_failed, on_load_timeout,
  // state_migration_failed, health_check_failed.
  result<swap_timings> swap_to(const std::filesystem::path& path, swap_flags flags = {});
  // Queues a swap for the engine's worker thread; a request made while another is pending
  // replaces it (coalesced: the last one wins). Returns at once.
  void request_swap(const std::filesystem::path& path, swap_flags flags = {});
  // Blocks until no request is pending or running (for tests and the CLI).
  void wait_idle();
  // Back to the previous version in history, with the state it had when it was replaced.
  // Errors: no_previous_version, and the load errors.
  result<void> rollback();

  // The module's name and version now serving ("" when none), the shadow dir, counters.
  std::string current_version() const;
  std::string module_name() const;
  std::filesystem::path shadow_dir() const;
  live_stats stats() const;
  // The versions kept for rollback, oldest first; rollback() goes to the last one. Waits for a
  // swap in progress.
  std::vector<std::string> history_versions() const;

  live_engine& engine() noexcept { return *engine_; }

 private:
  explicit live_module(std::unique_ptr<live_engine> e);
  std::unique_ptr<live_engine> engine_;
};

// The engine's published pointer, read by live<Api>: never null (no_version_table when nothing
// serves).
namespace detail {
live_table* const* published_slot(live_engine& e) noexcept;
// rcu_dereference: a plain load on x86-64, a dependency-ordered one elsewhere, and one
// ThreadSanitizer pairs with the engine's release store.
inline live_table* load_published(live_table* const* slot) noexcept {
  return __atomic_load_n(slot, __ATOMIC_CONSUME);
}
}  // namespace detail

// A caller's handle to the current table of a live_module. Cheap to copy; does not own it.
template <class Api>
class live {
 public:
  explicit live(live_module& m) noexcept : slot_(detail::published_slot(m.engine())) {}

  // Calls f(const Api&) on the version current at entry; the whole call sees that version.
  // Returns f's value, or: no_version_loaded (nothing published), module_crashed /
  // stack_overflow (during probation, when the call crashed: the engine rolls back).
  template <class F>
  auto call(F&& f) const noexcept -> result<std::invoke_result_t<F&, const Api&>> {
    using value_type = std::invoke_result_t<F&, const Api&>;
    rcu::read_guard section;
    detail::live_table* t = detail::load_published(slot_);
    // One test for both rare cases: probation, and no version (no_version_table is on probation).
    if (__builtin_expect(!t->probation.load(std::memory_order_relaxed), 1)) {
      const Api& api = *static_cast<const Api*>(t->api);
      if constexpr (std::is_void_v<value_type>) {
        f(api);
        return {};
      } else {
        return f(api);
      }
    }
    return call_on_probation(t, f);
  }

  // A read-side section over a batch of calls: every call through it reaches one version.
  // Not crash-guarded and not counted for probation. Holds no lock; must not outlive the
  // live_module, and must not be held by a thread that then calls swap_to or rollback.
  class scope_guard {
   public:
    explicit scope_guard(detail::live_table* const* slot) noexcept
        : before_(rcu::detail::enter()), table_(detail::load_published(slot)) {}
    ~scope_guard() { rcu::detail::leave(before_); }
    scope_guard(const scope_guard&) = delete;
    scope_guard& operator=(const scope_guard&) = delete;
    explicit operator bool() const noexcept { return table_ != &detail::no_version_table; }
    // The table; only when operator bool is true.
    const Api* operator->() const noexcept { return static_cast<const Api*>(table_->api); }
    const Api& operator*() const noexcept { return *static_cast<const Api*>(table_->api); }
    std::uint64_t sequence() const noexcept { return table_->sequence; }  // 0: none

   private:
    std::uint64_t before_;  // the RCU word to restore
    detail::live_table* table_;
  };
  scope_guard scope() const noexcept { return scope_guard(slot_); }

 private:
  // A call's rare cases (no version, probation), out of line: inlined, the guard, its error
  // and the probation count made each call site 11 times larger (4,211 bytes of code against
  // 373 for live_bench's loop) and its stack frame 600 bytes. Not marked cold: probation calls
  // are rare but are the first calls after a swap, whose latency the swap benchmarks watch.
  template <class F>
  [[gnu::noinline]] static auto call_on_probation(detail::live_table* t, F& f) noexcept
      -> result<std::invoke_result_t<F&, const Api&>> {
    if (t == &detail::no_version_table) return tl::unexpected<error>(detail::no_version_error());
    const Api& api = *static_cast<const Api*>(t->api);
    auto r = guarded_call([&] { return f(api); }, guard_options{guard_mode::fast, nullptr});
    if (r) {
      detail::count_probation_call(t);
    } else {
      detail::probation_call_crashed(t, r.error());
    }
    return r;
  }

  detail::live_table* const* slot_;
};

}  // namespace livemod
