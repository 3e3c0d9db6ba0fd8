// File: livemod/object.h
//
// Live objects: a component model whose objects survive a module swap. Modules export classes
// (livemod/sdk/object.hpp); the host creates objects by class id and holds them through
// refcounting handles. When the module is swapped, objects of the old version are converted
// lazily, each on its first call after the swap, by the new version's converter:
//   - thunk mode: the old vtable's slots point at generated thunks that convert the object once
//     and jump to the same slot of its new vtable; later calls are plain virtual calls;
//   - portable mode: no generated code; object_ref<I>'s `->` compares the object's generation
//     with the runtime's and converts on the first use after a swap.
// The old image stays mapped while any object still needs its code, its vtable or its
// converter, and is unloaded (on the live_module's worker) when the last one is gone.
//
//   auto objects = livemod::object_runtime::create();                  // thunk mode if supported
//   livemod::live_options opt;
//   opt.interface_id = LIVEMOD_CLASSES_API_ID;
//   opt.participant = (*objects)->participant();                      // joins every swap
//   auto mod = livemod::live_module::create(opt);  (*mod)->swap_to("v1/libseed.so");
//   auto b = (*objects)->create<IBase>(k_base_class);                  // result<object_ref<IBase>>
//   b->Hello();  (*mod)->swap_to("v2/libseed.so");  b->Hello();       // converted, then v2 runs
//
// docs/objects.md has the rules: the object layout, the converter's ordering, what a failed
// conversion leaves behind ("it stays an object of the old version"), converters chaining
// across several swaps, and the hazards that remain.
//
// Lifetime: the object_runtime must outlive every object it created and the live_module it
// takes part in (the participant keeps the runtime's core alive for the live_module, but
// objects hold a plain pointer to it). Destroy objects, then the live_module, then the runtime.
// Threads: create, handles and every method may be used from any thread; add_ref/release are
// atomic; conversion takes a striped lock keyed by the object's address, so two threads calling
// the same unconverted object convert it once and both run the new version. Events are
// delivered on the thread that caused them (a caller converting, a thread releasing the last
// reference, the swap's thread); the callback must not create or release objects.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "livemod/error.h"
#include "livemod/live.h"
#include "livemod/sdk/object.hpp"

namespace livemod {

enum class conversion_mode : std::uint8_t {
  thunk,     // old vtables patched to generated thunks (x86-64, AArch64)
  portable,  // handles check a generation number; no generated code
};
std::string_view to_string(conversion_mode mode) noexcept;
// Whether this build can generate thunks for the machine it runs on.
bool thunks_supported() noexcept;

enum class object_event_kind : std::uint8_t {
  conversion_failed,  // a converter failed: the object stays an object of the old version
  image_kept,         // a swapped-out image stays mapped: `live_objects` still need it
  image_released,     // no object needs the image any more: the live_module unloads it
  patch_failed,       // thunk mode: an old vtable could not be patched; its objects stay old
};
std::string_view to_string(object_event_kind kind) noexcept;

struct object_event {
  object_event_kind kind = object_event_kind::image_kept;
  std::string module, version;  // the version concerned (the old one for conversion_failed)
  std::uint64_t sequence = 0;   // the live_module's number for that version
  std::uint64_t live_objects = 0;
  std::optional<error> cause;
};

struct object_options {
  // Thunk mode where this build supports it, else portable.
  conversion_mode mode = thunks_supported() ? conversion_mode::thunk : conversion_mode::portable;
  std::function<void(const object_event&)> on_event;
};

struct object_stats {
  std::uint64_t created = 0, destroyed = 0, converted = 0, conversion_failures = 0;
  std::uint64_t images_kept = 0, images_released = 0;
};

// One version of the module as the object runtime knows it.
struct object_version_info {
  std::uint64_t sequence = 0;
  std::string module, version;
  std::uint64_t live_objects = 0;  // objects whose class is of this version
  bool serving = false;            // new objects come from it
  bool retired = false;            // swapped out (its image is kept while `released` is false)
  bool released = false;           // no object needs its image: unloaded (or being unloaded)
};

namespace object_detail {
class runtime_core;
// Portable mode's slow path: converts `object` to its class's newest version, once.
void refresh(void* object) noexcept;
}  // namespace object_detail

// A refcounting handle: copies add_ref, destruction releases. Calls through it are plain
// virtual calls (thunk mode converts on them; portable mode wants object_ref).
template <class I>
class object_ptr {
 public:
  object_ptr() noexcept = default;
  // Takes over one reference the caller owns.
  static object_ptr adopt(I* p) noexcept {
    object_ptr r;
    r.p_ = p;
    return r;
  }
  object_ptr(const object_ptr& o) noexcept : p_(o.p_) {
    if (p_) p_->add_ref();
  }
  object_ptr(object_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  object_ptr& operator=(object_ptr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~object_ptr() { reset(); }
  void reset() noexcept {
    if (I* p = std::exchange(p_, nullptr)) p->release();
  }
  I* get() const noexcept { return p_; }
  I* operator->() const noexcept { return p_; }
  I& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

  // Another interface of the same object (query_interface, a call: it converts in thunk
  // mode). Errors: interface_not_supported.
  template <class J>
  result<object_ptr<J>> query() const {
    void* q = p_ ? p_->query_interface(sdk::iid_of<J>()) : nullptr;
    if (!q)
      return fail(errc::interface_not_supported, "",
                  std::string("the object does not implement ") + sdk::type_info_of<J>()->name,
                  "ask for an interface its class implements or extends");
    auto* j = static_cast<J*>(static_cast<unknown*>(q));
    j->add_ref();
    return object_ptr<J>::adopt(j);
  }

 private:
  I* p_ = nullptr;
};

// A handle for portable mode (and correct in thunk mode too): each `->` checks the object's
// generation against the runtime's and converts the object on its first use after a swap.
template <class I>
class object_ref {
 public:
  object_ref() noexcept = default;
  object_ref(object_ptr<I> p, const std::uint64_t* generation) noexcept
      : p_(std::move(p)), generation_(generation) {}

  I* operator->() const noexcept {
    I* o = p_.get();
    const livemod_object_fields* f = sdk::detail::fields_of(static_cast<unknown*>(o));
    if (__builtin_expect(__atomic_load_n(&f->generation, __ATOMIC_ACQUIRE) !=
                             __atomic_load_n(generation_, __ATOMIC_RELAXED),
                         0))
      object_detail::refresh(static_cast<unknown*>(o));
    return o;
  }
  I& operator*() const noexcept { return *operator->(); }
  // The object without the check (for a thunk-mode caller, or to pass it on).
  I* get() const noexcept { return p_.get(); }
  const object_ptr<I>& ptr() const noexcept { return p_; }
  explicit operator bool() const noexcept { return static_cast<bool>(p_); }
  void reset() noexcept { p_.reset(); }
  template <class J>
  result<object_ref<J>> query() const {
    auto q = p_.template query<J>();
    if (!q) return fail(q.error());
    return object_ref<J>(std::move(*q), generation_);
  }

 private:
  object_ptr<I> p_;
  const std::uint64_t* generation_ = nullptr;
};

class object_runtime {
 public:
  // Errors: unsupported_platform (thunk mode asked on a machine without an emitter).
  static result<std::unique_ptr<object_runtime>> create(object_options options = {});
  ~object_runtime();
  object_runtime(const object_runtime&) = delete;
  object_runtime& operator=(const object_runtime&) = delete;

  // Give it to live_options.participant: the runtime then learns every version's classes,
  // refuses swaps it cannot carry objects across, and converts objects after them.
  std::shared_ptr<swap_participant> participant() const noexcept;
  conversion_mode mode() const noexcept;

  // Creates an object of class `class_id` from the version serving, seen as interface I.
  // Errors: class_not_found (no version serving, or it has no such class), init_failed (the
  // factory failed), interface_not_supported (the class does not implement I),
  // object_layout_changed (the module's I is not the host's: methods differ, not appended).
  template <class I>
  result<object_ref<I>> create(const livemod_iid& class_id) {
    auto o = create_object(class_id, sdk::type_info_of<I>());
    if (!o) return fail(o.error());
    return object_ref<I>(object_ptr<I>::adopt(static_cast<I*>(static_cast<unknown*>(*o))),
                         generation_slot());
  }
  result<void*> create_object(const livemod_iid& class_id, const livemod_interface_info* want);

  // Objects alive now, in all versions; per version, oldest first.
  std::uint64_t live_objects() const;
  std::vector<object_version_info> versions() const;
  object_stats stats() const;

 private:
  explicit object_runtime(std::shared_ptr<object_detail::runtime_core> core) noexcept;
  const std::uint64_t* generation_slot() const noexcept;
  std::shared_ptr<object_detail::runtime_core> core_;
};

}  // namespace livemod
