// The object runtime: the classes of each version, object counts, and lazy conversion after a
// swap (docs/objects.md). It takes part in the live_module's swaps as a swap_participant.
//
// Locks, in the order they may be taken: a stripe (per object address: conversion, failed
// objects), then mu_ (versions and the serving one). Module code runs under a stripe lock
// (converters) but never under mu_ held exclusively.
#include "livemod/object.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>

#include "livemod/library.h"
#include "livemod/rcu.h"
#include "object/thunk.h"
#include "os/code_memory.h"
#include "os/process_barrier.h"

namespace livemod {

std::string_view to_string(conversion_mode mode) noexcept {
  switch (mode) {
    case conversion_mode::thunk: return "thunk";
    case conversion_mode::portable: return "portable";
  }
  return "unknown";
}

std::string_view to_string(object_event_kind kind) noexcept {
  switch (kind) {
    case object_event_kind::conversion_failed: return "conversion_failed";
    case object_event_kind::image_kept: return "image_kept";
    case object_event_kind::image_released: return "image_released";
    case object_event_kind::patch_failed: return "patch_failed";
  }
  return "unknown";
}

bool thunks_supported() noexcept { return object_detail::thunk_block::supported(); }

namespace object_detail {
namespace {

std::string iid_text(const livemod_iid& id) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(id.hi >> 32),
                static_cast<unsigned long long>((id.hi >> 16) & 0xffffu),
                static_cast<unsigned long long>(id.hi & 0xffffu),
                static_cast<unsigned long long>(id.lo >> 48),
                static_cast<unsigned long long>(id.lo & 0xffffffffffffull));
  return buf;
}

const void* const* load_vptr(void* object) noexcept {
  return __atomic_load_n(static_cast<const void* const**>(object), __ATOMIC_ACQUIRE);
}

livemod_object_fields* fields(void* object) noexcept { return sdk::detail::fields_of(object); }

#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateBenignRaceSized(const char* file, int line, const volatile void* mem,
                                        unsigned long size, const char* description);
#endif
// Thunk mode publishes a converted object's vptr with a release store that other callers read
// with the plain load of a virtual call: ordered on the hardware (docs/objects.md), invisible
// to ThreadSanitizer. The data block itself is handed over with release/acquire under TSan.
inline void tsan_vptr_handover([[maybe_unused]] void* object) noexcept {
#if defined(__SANITIZE_THREAD__)
  AnnotateBenignRaceSized(__FILE__, __LINE__, object, sizeof(void*),
                          "vptr of an object converted in thunk mode");
#endif
}

// The module's interface info for `id` in the chain of `info`, or null.
const livemod_interface_info* find_in_chain(const livemod_interface_info* info,
                                            const livemod_iid& id) noexcept {
  for (; info; info = info->base)
    if (sdk::same_iid(info->iid, id)) return info;
  return nullptr;
}

// Whether `newer`'s first `older->method_count` slots are `older`'s (same names, signatures,
// and result passing): methods may be appended, never changed, removed or reordered.
bool is_prefix(const livemod_interface_info* older, const livemod_interface_info* newer) noexcept {
  if (newer->method_count < older->method_count) return false;
  if (newer->method_count == older->method_count && newer->layout_hash == older->layout_hash)
    return true;
  for (std::uint32_t i = 0; i < older->method_count; ++i) {
    if (std::strcmp(older->method_names[i], newer->method_names[i]) != 0) return false;
    if (std::strcmp(older->method_signatures[i], newer->method_signatures[i]) != 0) return false;
    if (older->returns_in_memory[i] != newer->returns_in_memory[i]) return false;
  }
  return true;
}

}  // namespace

struct version_rec;
struct class_rec;

struct slot_ctx {
  class_rec* from = nullptr;
  std::size_t slot = 0;
};

// One class in one version of the module.
struct class_rec {
  runtime_core* core = nullptr;
  version_rec* version = nullptr;
  const livemod_class_info* info = nullptr;  // in the module: valid while its image is
  // Copied from `info`: read by threads that may still reach this class after its image left.
  livemod_iid id{};
  const void* const* vtable = nullptr;
  std::string name;
  // The same class in the version that replaced this one, when objects convert into it.
  std::atomic<class_rec*> next{nullptr};
  std::atomic<std::int64_t> live{0};
  // Thunk mode: the vtable's slots before patching (the fallback of objects that failed to
  // convert, and the destructors of unconverted objects), the thunks and their contexts.
  std::vector<const void*> original;
  std::unique_ptr<slot_ctx[]> contexts;
  std::optional<thunk_block> thunks;
  bool patched = false;
};

struct version_rec {
  std::uint64_t sequence = 0;
  std::string module, version;
  std::vector<std::unique_ptr<class_rec>> classes;
  std::atomic<std::int64_t> live{0};
  std::atomic<bool> retired{false};
  bool serving = false;
  bool released = false;
  // The version whose objects convert into this one (this image is needed until it is gone).
  version_rec* chained_from = nullptr;
  std::function<void()> unload_later;

  class_rec* find(const livemod_iid& id) const noexcept {
    for (const auto& c : classes)
      if (sdk::same_iid(c->id, id)) return c.get();
    return nullptr;
  }
};

namespace {
const void* thunk_entry(void* self, void* context) noexcept;
void host_destroy(const livemod_object_host* host, void* object);
void host_destroyed(const livemod_object_host* host, void* object);
[[maybe_unused]] void host_barrier(const livemod_object_host*) { os::process_barrier(); }
}  // namespace

class runtime_core final : public swap_participant {
 public:
  explicit runtime_core(object_options o) : opt_(std::move(o)) {
    host_.size = sizeof host_;
    host_.context = this;
    host_.destroy = &host_destroy;
    host_.destroyed = &host_destroyed;
#if defined(__x86_64__) || defined(__i386__)
    host_.publish_barrier = nullptr;  // TSO: loads are not reordered with older loads
#else
    host_.publish_barrier = &host_barrier;
#endif
  }

  conversion_mode mode() const noexcept { return opt_.mode; }
  const std::uint64_t* generation_slot() const noexcept { return &generation_; }

  // --- swap_participant

  result<void> prepare(const swap_version* from, const swap_version& to, bool rollback) override {
    auto rec = read_classes(to);
    if (!rec) return fail(rec.error());
    std::unique_lock lock(mu_);
    version_rec* old = from ? find_version(from->sequence) : nullptr;
    if (old && !rollback) {
      for (const auto& c : old->classes) {
        class_rec* n = (*rec)->find(c->info->class_id);
        std::int64_t live = c->live.load();
        std::string who = std::string(to.module) + " " + std::string(to.version);
        if (n) {
          const livemod_interface_info* was = c->info->interface_info;
          const livemod_interface_info* now = find_in_chain(n->info->interface_info, was->iid);
          if (!now)
            return fail(errc::object_layout_changed, who,
                        "class " + c->name + " no longer implements " + was->name,
                        "keep the interface, extend it or give the class a new id");
          if (now->method_count < was->method_count)
            return fail(errc::object_interface_shrank, who,
                        "interface " + std::string(was->name) + " of class " + c->name + " has " +
                            std::to_string(now->method_count) + " vtable slots, the serving " +
                            "version has " + std::to_string(was->method_count),
                        "append methods, never remove them");
          if (!is_prefix(was, now))
            return fail(errc::object_layout_changed, who,
                        "interface " + std::string(was->name) + " of class " + c->name +
                            " changed its methods without a new id",
                        "append methods only, or give the interface a new id");
        }
        if (live == 0) continue;
        if (!n)
          return fail(errc::converter_missing, who,
                      "class " + c->name + " has " + std::to_string(live) +
                          " live objects and this version does not have it",
                      "keep the class, or release its objects before the swap");
        if (!n->info->convert)
          return fail(errc::converter_missing, who,
                      "class " + c->name + " has " + std::to_string(live) +
                          " live objects and no converter from the serving version",
                      "add converts_from<...>() to its class_def");
        if (n->info->converts_from != c->info->data_version)
          return fail(errc::converter_missing, who,
                      "class " + c->name + " converts from data version " +
                          std::to_string(n->info->converts_from) + ", its " +
                          std::to_string(live) + " live objects have data version " +
                          std::to_string(c->info->data_version),
                      "swap through the version in between, or convert from this one");
      }
      if (opt_.mode == conversion_mode::thunk) {
        for (const auto& c : old->classes) {
          class_rec* n = (*rec)->find(c->info->class_id);
          if (!n || !n->info->convert || n->info->converts_from != c->info->data_version) continue;
          if (auto r = make_thunks(*c); !r) return fail(r.error());
        }
      }
    }
    pending_ = std::move(*rec);
    return {};
  }

  void published(const swap_version* from, const swap_version& to, bool rollback) override {
    std::vector<object_event> events;
    {
      std::unique_lock lock(mu_);
      if (!pending_ || pending_->sequence != to.sequence) return;
      version_rec* old = from ? find_version(from->sequence) : nullptr;
      versions_.push_back(std::move(pending_));
      version_rec* now = versions_.back().get();
      if (current_) current_->serving = false;
      current_ = now;
      now->serving = true;
      if (old && !rollback) {
        std::vector<class_rec*> linked;
        for (const auto& c : old->classes) {
          class_rec* n = now->find(c->info->class_id);
          if (!n || !n->info->convert || n->info->converts_from != c->info->data_version) continue;
          c->next.store(n, std::memory_order_release);
          linked.push_back(c.get());
        }
        if (!linked.empty()) now->chained_from = old;
        if (opt_.mode == conversion_mode::thunk) {
          // The contexts and `next` must be visible to a thread that reaches a thunk; on x86-64
          // the patch's stores are ordered after them already.
#if !defined(__x86_64__) && !defined(__i386__)
          os::process_barrier();
#endif
          for (class_rec* c : linked) {
            if (c->patched || !c->thunks) continue;
            if (auto r = patch(*c); !r) {
              c->next.store(nullptr, std::memory_order_release);
              events.push_back(event(object_event_kind::patch_failed, *old, r.error()));
            }
          }
        } else {
          __atomic_fetch_add(&generation_, 1, __ATOMIC_RELEASE);
        }
      }
    }
    emit(events);
  }

  bool may_unload(const swap_version& old, std::function<void()> unload_later) override {
    std::vector<object_event> events;
    bool ok = true;
    {
      std::unique_lock lock(mu_);
      if (pending_ && pending_->sequence == old.sequence) pending_.reset();
      version_rec* v = find_version(old.sequence);
      if (!v) return true;
      v->retired.store(true);
      if (v->serving) {
        v->serving = false;
        if (current_ == v) current_ = nullptr;
      }
      if (releasable(*v)) {
        v->released = true;
      } else {
        v->unload_later = std::move(unload_later);
        stats_.images_kept.fetch_add(1, std::memory_order_relaxed);
        object_event e = event(object_event_kind::image_kept, *v, std::nullopt);
        events.push_back(std::move(e));
        ok = false;
      }
    }
    emit(events);
    // Objects may have gone between the check and storing the callback: look again.
    if (!ok) try_release();
    return ok;
  }

  // --- objects

  result<void*> create(const livemod_iid& class_id, const livemod_interface_info* want) {
    class_rec* c = nullptr;
    std::uint64_t generation = 0;
    {
      std::shared_lock lock(mu_);
      if (!current_)
        return fail(errc::class_not_found, "", "no version of the module is serving",
                    "swap a version in before creating objects");
      c = current_->find(class_id);
      if (!c)
        return fail(errc::class_not_found, current_->module + " " + current_->version,
                    "has no class " + iid_text(class_id),
                    "check the class id, or the module's LIVEMOD_CLASSES");
      const livemod_interface_info* have = find_in_chain(c->info->interface_info, want->iid);
      if (!have)
        return fail(errc::interface_not_supported, current_->module + " " + current_->version,
                    "class " + c->name + " does not implement " + want->name,
                    "ask for an interface the class implements or extends");
      if (!is_prefix(want, have))
        return fail(errc::object_layout_changed, current_->module + " " + current_->version,
                    "its " + std::string(want->name) + " (" + std::to_string(have->method_count) +
                        " slots) is not the host's (" + std::to_string(want->method_count) +
                        " slots): methods differ",
                    "rebuild the host and the module against the same interface header");
      // Counted before the factory runs: the version cannot be released meanwhile.
      c->live.fetch_add(1);
      c->version->live.fetch_add(1);
      generation = __atomic_load_n(&generation_, __ATOMIC_ACQUIRE);
    }
    void* object = nullptr;
    std::int32_t rc = c->info->create(&host_, &object);
    if (rc < 0 || !object) {
      gone(c);
      return fail(errc::init_failed, c->version->module + " " + c->version->version,
                  "the factory of class " + c->name + " failed with code " + std::to_string(-rc),
                  "see the module's log");
    }
    livemod_object_fields* f = fields(object);
    __atomic_store_n(&f->klass, static_cast<const void*>(c), __ATOMIC_RELAXED);
    __atomic_store_n(&f->generation, generation, __ATOMIC_RELEASE);
    stats_.created.fetch_add(1, std::memory_order_relaxed);
    return object;
  }

  // The last reference went: run the version's deleting destructor inside a read-side
  // section, so that a deferred unload (which waits for a grace period first) cannot unmap
  // the destructor's code under this thread.
  void destroy(void* object) noexcept {
    rcu::read_guard section;
    delete static_cast<unknown*>(object);
  }

  void destroyed(void* object) noexcept {
    livemod_object_fields* f = fields(object);
    auto* c = static_cast<class_rec*>(
        const_cast<void*>(__atomic_load_n(&f->klass, __ATOMIC_RELAXED)));
    if (!c) return;
    if (failed_count_.load() != 0) {
      stripe& s = stripe_for(object);
      std::lock_guard lock(s.mu);
      if (s.failed.erase(object) != 0) failed_count_.fetch_sub(1);
    }
    stats_.destroyed.fetch_add(1, std::memory_order_relaxed);
    gone(c);
  }

  // Thunk mode: converts `self` (an object whose vptr was `from`'s vtable) once. false when it
  // stays an object of `from` (its conversion failed now or before).
  bool convert_for_call(void* self, class_rec* from) noexcept {
    stripe& s = stripe_for(self);
    std::unique_lock lock(s.mu);
    if (load_vptr(self) != from->vtable) return true;  // another thread converted it
    if (failed_count_.load() != 0 && s.failed.count(self) != 0) return false;
    class_rec* to = from->next.load(std::memory_order_acquire);
    if (!to) return false;
    tsan_vptr_handover(self);
    std::int32_t rc = to->info->convert(self);
    if (rc < 0) {
      note_failed(s, self);
      lock.unlock();
      report_failure(from, to, rc);
      return false;
    }
    moved(self, from, to);
    lock.unlock();
    gone(from);
    return true;
  }

  // Portable mode: converts `self` along its class's chain to the newest version, once per
  // generation.
  void refresh(void* self) noexcept {
    std::uint64_t g = __atomic_load_n(&generation_, __ATOMIC_ACQUIRE);
    livemod_object_fields* f = fields(self);
    stripe& s = stripe_for(self);
    std::unique_lock lock(s.mu);
    if (__atomic_load_n(&f->generation, __ATOMIC_RELAXED) == g) return;
    auto* c = static_cast<class_rec*>(const_cast<void*>(__atomic_load_n(&f->klass, __ATOMIC_RELAXED)));
    std::vector<class_rec*> left;
    std::optional<std::pair<class_rec*, std::int32_t>> failure;
    bool failed_before = failed_count_.load() != 0 && s.failed.count(self) != 0;
    while (c && !failed_before) {
      class_rec* to = c->next.load(std::memory_order_acquire);
      if (!to) break;
      std::int32_t rc = to->info->convert(self);
      if (rc < 0) {
        note_failed(s, self);
        failure = std::make_pair(to, rc);
        break;
      }
      moved(self, c, to);
      left.push_back(c);
      c = to;
    }
    // Also after a failure: the object then runs its old version at full speed.
    __atomic_store_n(&f->generation, g, __ATOMIC_RELEASE);
    lock.unlock();
    if (failure) report_failure(c, failure->first, failure->second);
    for (class_rec* l : left) gone(l);
  }

  // --- queries

  std::uint64_t live_objects() const {
    std::shared_lock lock(mu_);
    std::int64_t n = 0;
    for (const auto& v : versions_) n += v->live.load();
    return static_cast<std::uint64_t>(n);
  }

  std::vector<object_version_info> versions() const {
    std::shared_lock lock(mu_);
    std::vector<object_version_info> out;
    for (const auto& v : versions_)
      out.push_back({v->sequence, v->module, v->version,
                     static_cast<std::uint64_t>(std::max<std::int64_t>(v->live.load(), 0)),
                     v->serving, v->retired.load(), v->released});
    return out;
  }

  object_stats stats() const {
    object_stats s;
    s.created = stats_.created.load();
    s.destroyed = stats_.destroyed.load();
    s.converted = stats_.converted.load();
    s.conversion_failures = stats_.conversion_failures.load();
    s.images_kept = stats_.images_kept.load();
    s.images_released = stats_.images_released.load();
    return s;
  }

 private:
  struct stripe {
    std::mutex mu;
    std::unordered_set<void*> failed;  // objects whose conversion failed: they stay old
  };
  struct counters {
    std::atomic<std::uint64_t> created{0}, destroyed{0}, converted{0}, conversion_failures{0};
    std::atomic<std::uint64_t> images_kept{0}, images_released{0};
  };

  stripe& stripe_for(const void* object) noexcept {
    auto a = reinterpret_cast<std::uintptr_t>(object);
    a ^= a >> 17;
    a *= 0x9e3779b97f4a7c15ull;
    return stripes_[(a >> 56) & (stripes_.size() - 1)];
  }

  version_rec* find_version(std::uint64_t sequence) const noexcept {
    for (const auto& v : versions_)
      if (v->sequence == sequence) return v.get();
    return nullptr;
  }

  // The class table of a version about to be published, checked.
  result<std::unique_ptr<version_rec>> read_classes(const swap_version& to) {
    auto rec = std::make_unique<version_rec>();
    rec->sequence = to.sequence;
    rec->module = std::string(to.module);
    rec->version = std::string(to.version);
    std::string who = rec->module + " " + rec->version;
    if (!to.image) return rec;
    auto get = to.image->symbol<const livemod_class_table*() noexcept>(LIVEMOD_GET_CLASSES_SYMBOL);
    if (!get) return rec;  // a module without classes
    const livemod_class_table* table = (*get)();
    if (!table || table->size < sizeof(livemod_class_table) || (table->count && !table->classes))
      return fail(errc::object_layout_changed, who, "livemod_get_classes returned no valid table",
                  "define the table with LIVEMOD_CLASSES");
    for (std::uint32_t i = 0; i < table->count; ++i) {
      const livemod_class_info& ci = table->classes[i];
      std::string name = ci.name ? ci.name : iid_text(ci.class_id);
      if (ci.size < sizeof(livemod_class_info) || !ci.interface_info || !ci.vtable || !ci.create)
        return fail(errc::object_layout_changed, who, "class " + name + " is incomplete",
                    "define it with livemod::sdk::class_def");
      if (ci.interface_info->method_count < 3 || ci.slot_count != ci.interface_info->method_count)
        return fail(errc::object_layout_changed, who,
                    "class " + name + ": the declaration of interface " +
                        std::string(ci.interface_info->name ? ci.interface_info->name : "?") +
                        " does not match its vtable",
                    "list every method in LIVEMOD_INTERFACE, in declaration order");
      if (rec->find(ci.class_id))
        return fail(errc::object_layout_changed, who, "class " + name + " is listed twice",
                    "give each class its own id");
      auto c = std::make_unique<class_rec>();
      c->core = this;
      c->version = rec.get();
      c->info = &ci;
      c->id = ci.class_id;
      c->vtable = ci.vtable;
      c->name = std::move(name);
      rec->classes.push_back(std::move(c));
    }
    return rec;
  }

  // The thunks of `c`'s vtable (made once per class; patched into it at publish).
  result<void> make_thunks(class_rec& c) {
    if (c.thunks) return {};
    std::size_t n = c.info->slot_count;
    c.contexts = std::make_unique<slot_ctx[]>(n);
    std::vector<thunk_spec> specs(n);
    for (std::size_t i = 0; i < n; ++i) {
      c.contexts[i] = {&c, i};
      specs[i].entry = &thunk_entry;
      specs[i].context = &c.contexts[i];
      specs[i].returns_in_memory = c.info->interface_info->returns_in_memory[i] != 0;
    }
    auto block = thunk_block::create(specs);
    if (!block) return fail(block.error());
    c.thunks.emplace(std::move(*block));
    return {};
  }

  result<void> patch(class_rec& c) {
    std::size_t n = c.info->slot_count;
    c.original.assign(c.vtable, c.vtable + n);
    std::vector<void*> values(n);
    for (std::size_t i = 0; i < n; ++i) values[i] = const_cast<void*>(c.thunks->address(i));
    if (auto r = os::patch_pointers(const_cast<void**>(c.vtable), values); !r) return r;
    c.patched = true;
    return {};
  }

  void note_failed(stripe& s, void* self) {
    try {
      if (s.failed.insert(self).second) failed_count_.fetch_add(1);
    } catch (...) {
      // Out of memory: the object is retried on its next call.
    }
  }

  void report_failure(class_rec* from, class_rec* to, std::int32_t rc) noexcept {
    stats_.conversion_failures.fetch_add(1, std::memory_order_relaxed);
    if (!opt_.on_event) return;
    try {
      error cause(errc::conversion_failed, to->version->module + " " + to->version->version,
                  "the converter of class " + to->name + " failed with code " +
                      std::to_string(-rc) + "; the object stays an object of version " +
                      from->version->version,
                  "fix the converter; the object keeps running the old version");
      std::vector<object_event> events{event(object_event_kind::conversion_failed, *from->version, cause)};
      emit(events);
    } catch (...) {
    }
  }

  // The object moved from `from` to `to` (under its stripe lock). `from`'s count is dropped
  // by gone() after the lock.
  void moved(void* self, class_rec* from, class_rec* to) noexcept {
    (void)from;
    to->live.fetch_add(1);
    to->version->live.fetch_add(1);
    __atomic_store_n(&fields(self)->klass, static_cast<const void*>(to), __ATOMIC_RELAXED);
    stats_.converted.fetch_add(1, std::memory_order_relaxed);
  }

  // One object of `c` is gone (destroyed or converted away).
  void gone(class_rec* c) noexcept {
    c->live.fetch_sub(1);
    if (c->version->live.fetch_sub(1) == 1 && c->version->retired.load()) try_release();
  }

  bool releasable(const version_rec& v) const noexcept {
    return !v.released && v.retired.load() && v.live.load() == 0 &&
           (!v.chained_from || v.chained_from->released);
  }

  // Releases every retired version nothing needs any more, oldest first (a version's image is
  // needed by the objects of the versions chained into it).
  void try_release() noexcept {
    std::vector<std::function<void()>> calls;
    std::vector<object_event> events;
    try {
      std::unique_lock lock(mu_);
      for (const auto& v : versions_) {
        if (!releasable(*v)) continue;
        v->released = true;
        if (v->unload_later) {
          calls.push_back(std::move(v->unload_later));
          v->unload_later = nullptr;
          stats_.images_released.fetch_add(1, std::memory_order_relaxed);
          events.push_back(event(object_event_kind::image_released, *v, std::nullopt));
        }
      }
    } catch (...) {
      return;
    }
    emit(events);
    for (auto& call : calls) {
      try {
        call();
      } catch (...) {
      }
    }
  }

  static object_event event(object_event_kind kind, const version_rec& v,
                            std::optional<error> cause) {
    object_event e;
    e.kind = kind;
    e.module = v.module;
    e.version = v.version;
    e.sequence = v.sequence;
    e.live_objects = static_cast<std::uint64_t>(std::max<std::int64_t>(v.live.load(), 0));
    e.cause = std::move(cause);
    return e;
  }

  void emit(const std::vector<object_event>& events) noexcept {
    if (!opt_.on_event) return;
    for (const object_event& e : events) {
      try {
        opt_.on_event(e);
      } catch (...) {
      }
    }
  }

  object_options opt_;
  livemod_object_host host_{};
  std::uint64_t generation_ = 0;  // portable mode; atomic builtins
  mutable std::shared_mutex mu_;
  std::deque<std::unique_ptr<version_rec>> versions_;
  version_rec* current_ = nullptr;
  std::unique_ptr<version_rec> pending_;
  std::array<stripe, 256> stripes_;
  std::atomic<std::uint64_t> failed_count_{0};
  counters stats_;

};

namespace {

runtime_core* core_of(const livemod_object_host* host) noexcept {
  return static_cast<runtime_core*>(host->context);
}

void host_destroy(const livemod_object_host* host, void* object) { core_of(host)->destroy(object); }
void host_destroyed(const livemod_object_host* host, void* object) {
  core_of(host)->destroyed(object);
}

// Entered from a thunk in slot `slot` of an old vtable, with `self` an object of that class.
// The destructor slots run the old destructor (the image is kept while the object lives):
// converting an object only to destroy it would be wasted work and a chance to fail.
// Inside a read-side section: the deferred unload of an image waits for a grace period, so a
// thread in here cannot have the image it came from unmapped under it.
const void* thunk_entry(void* self, void* context) noexcept {
  rcu::read_guard section;
  auto* sc = static_cast<slot_ctx*>(context);
  class_rec* from = sc->from;
  if (sc->slot >= 2 && from->core->convert_for_call(self, from)) return load_vptr(self)[sc->slot];
  return from->original[sc->slot];
}

}  // namespace

void refresh(void* object) noexcept {
  const livemod_object_fields* f = fields(object);
  if (f->host) core_of(f->host)->refresh(object);
}

}  // namespace object_detail

result<std::unique_ptr<object_runtime>> object_runtime::create(object_options options) {
  if (options.mode == conversion_mode::thunk && !object_detail::thunk_block::supported())
    return fail(errc::unsupported_platform, "",
                "this build has no thunk emitter for this machine",
                "use conversion_mode::portable");
  try {
    auto core = std::make_shared<object_detail::runtime_core>(std::move(options));
    return std::unique_ptr<object_runtime>(new object_runtime(std::move(core)));
  } catch (const std::exception& e) {
    return fail(errc::code_memory_failed, "", std::string("cannot create the runtime: ") + e.what());
  }
}

object_runtime::object_runtime(std::shared_ptr<object_detail::runtime_core> core) noexcept
    : core_(std::move(core)) {}
object_runtime::~object_runtime() = default;

std::shared_ptr<swap_participant> object_runtime::participant() const noexcept { return core_; }
conversion_mode object_runtime::mode() const noexcept { return core_->mode(); }
const std::uint64_t* object_runtime::generation_slot() const noexcept {
  return core_->generation_slot();
}

result<void*> object_runtime::create_object(const livemod_iid& class_id,
                                            const livemod_interface_info* want) {
  try {
    return core_->create(class_id, want);
  } catch (const std::exception& e) {
    return fail(errc::init_failed, "", std::string("cannot create the object: ") + e.what());
  }
}

std::uint64_t object_runtime::live_objects() const { return core_->live_objects(); }
std::vector<object_version_info> object_runtime::versions() const { return core_->versions(); }
object_stats object_runtime::stats() const { return core_->stats(); }

}  // namespace livemod
