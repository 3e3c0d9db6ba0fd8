// File: livemod/sdk/object.hpp
//
// The C++ face of live objects (livemod/sdk/object.h): interfaces with ids and type info,
// components whose data sits behind one pointer, factories, converters, and the class table
// a module exports. Shared by modules and hosts; header-only; C++17 (converters are named
// functions passed as template arguments).
//
//   struct IBase : livemod::unknown { virtual int Hello() = 0; virtual int Foo() = 0; };
//   LIVEMOD_INTERFACE(IBase, livemod::unknown, "6d0b7f1e-3c1a-4c52-9a43-0f6f2a1d9e10",
//                     LIVEMOD_METHOD(Hello, int()), LIVEMOD_METHOD(Foo, int()));
//   struct base_data { int a = 2008; int b = 77; };                     // version 2's data
//   class base final : public livemod::sdk::component<base, IBase, base_data> {
//     int Hello() override { return data().a; }  int Foo() override { return data().b; } };
//   base_data upgrade(old_base_data& o) { return {o.a, 77}; }           // from version 1
//   LIVEMOD_CLASSES(livemod::sdk::class_def<base>(k_base_id, "seed.base", 2)
//                       .converts_from<&upgrade>(1));
//
// Rules (docs/objects.md):
// - One interface chain per class (single inheritance): an interface may extend one other;
//   query_interface answers `this` for every id in the chain. Multiple inheritance is not
//   supported: secondary vtables and this-adjusting thunks would need patching too.
// - A component holds no data members of its own: everything lives in the data block
//   (`Data`), so that every version of the class has the same object layout
//   {vptr, livemod_object_fields} and a converter can retarget an object in place.
// - add_ref/release are not virtual: the reference count is part of the fixed layout, so
//   copying a handle never runs module code. The last release hands the object to the host,
//   which destroys it (the version's deleting destructor) and counts it.
// - Nothing throws across the boundary: factories and converters catch and return codes.
//
// Threads: add_ref/release are atomic (release is acq_rel). A component's methods are called
// concurrently as the author allows; the SDK adds no locking around them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "livemod/sdk/module.hpp"
#include "livemod/sdk/object.h"

namespace livemod {

namespace sdk::detail {
struct access;
}

// The root of every interface: the destructor (slots 0 and 1), query_interface (slot 2), and
// the fixed object fields. Not constructible on its own; components derive from it through
// their interface.
class unknown {
 public:
  virtual ~unknown() = default;
  // `this` when the object implements the interface `id` (its interface or one it extends),
  // else nullptr. Does not add a reference.
  virtual void* query_interface(const livemod_iid& id) noexcept = 0;

  void add_ref() noexcept { __atomic_fetch_add(&fields_.refs, 1, __ATOMIC_RELAXED); }
  void release() noexcept {
    if (__atomic_fetch_sub(&fields_.refs, 1, __ATOMIC_ACQ_REL) == 1 && fields_.host)
      fields_.host->destroy(fields_.host, this);
  }
  std::uint64_t ref_count() const noexcept {
    return __atomic_load_n(&fields_.refs, __ATOMIC_RELAXED);
  }

 protected:
  unknown() noexcept = default;
  unknown(const unknown&) = delete;
  unknown& operator=(const unknown&) = delete;

 private:
  friend struct sdk::detail::access;
  livemod_object_fields fields_{1, nullptr, nullptr, nullptr, 0};
};

static_assert(sizeof(unknown) == sizeof(void*) + sizeof(livemod_object_fields),
              "an object is {vptr, livemod_object_fields}");

namespace sdk {

// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (dashes anywhere, 32 hex digits). A malformed
// id is a compile error in a constant expression and a trap at run time.
constexpr livemod_iid parse_iid(const char* text) {
  std::uint64_t part[2] = {0, 0};
  int digits = 0;
  for (const char* p = text; *p; ++p) {
    char c = *p;
    if (c == '-') continue;
    std::uint64_t v = 0;
    if (c >= '0' && c <= '9')
      v = static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = static_cast<std::uint64_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v = static_cast<std::uint64_t>(c - 'A' + 10);
    else
      __builtin_trap();  // not a hex digit
    if (digits >= 32) __builtin_trap();  // more than 128 bits
    part[digits / 16] = (part[digits / 16] << 4) | v;
    ++digits;
  }
  if (digits != 32) __builtin_trap();  // fewer than 128 bits
  return livemod_iid{part[0], part[1]};
}

constexpr bool same_iid(const livemod_iid& a, const livemod_iid& b) noexcept {
  return a.hi == b.hi && a.lo == b.lo;
}

// The type info of interface I (declared with LIVEMOD_INTERFACE), found by argument-dependent
// lookup.
template <class I>
const livemod_interface_info* type_info_of() noexcept {
  return livemod_type_info(static_cast<const I*>(nullptr));
}
template <class I>
livemod_iid iid_of() noexcept {
  return type_info_of<I>()->iid;
}

// Whether `info` is, or extends, the interface `id`.
inline bool implements(const livemod_interface_info* info, const livemod_iid& id) noexcept {
  for (; info; info = info->base)
    if (same_iid(info->iid, id)) return true;
  return false;
}

namespace detail {

// The data pointer is loaded relaxed: the ordering against the vptr comes from the converter
// (docs/objects.md, "The converter's ordering"). ThreadSanitizer cannot see that argument, so
// under it the load acquires the converter's release store of the pointer.
#if defined(__SANITIZE_THREAD__)
constexpr int data_load_order = __ATOMIC_ACQUIRE;
#else
constexpr int data_load_order = __ATOMIC_RELAXED;
#endif

// Reaches the fixed fields of an object (the C layout: right after the vptr).
struct access {
  static livemod_object_fields& fields(unknown* o) noexcept { return o->fields_; }
};
inline livemod_object_fields* fields_of(void* object) noexcept {
  return &access::fields(static_cast<unknown*>(object));
}

// One declared method: its name, its signature as written, its vtable slot, and whether its
// result comes back through a hidden pointer.
struct method_decl {
  const char* name;
  const char* signature;
  std::ptrdiff_t slot;  // -1: not a virtual function
  bool in_memory;
};

template <class R>
constexpr bool returns_in_memory() {
  if constexpr (std::is_void_v<R> || std::is_reference_v<R>)
    return false;
  else
    return !std::is_trivially_copyable_v<R> || sizeof(R) > 16;
}

// The vtable slot of a pointer to a virtual member function (Itanium C++ ABI; the ARM variant
// keeps the virtual bit in the adjustment instead).
template <class P>
std::ptrdiff_t slot_of(P pmf) noexcept {
  static_assert(sizeof(P) == 2 * sizeof(std::ptrdiff_t), "an Itanium member function pointer");
  std::ptrdiff_t raw[2];
  std::memcpy(raw, &pmf, sizeof raw);
#if defined(__arm__) || defined(__aarch64__)
  if ((raw[1] & 1) == 0) return -1;
  return raw[0] / static_cast<std::ptrdiff_t>(sizeof(void*));
#else
  if ((raw[0] & 1) == 0) return -1;
  return (raw[0] - 1) / static_cast<std::ptrdiff_t>(sizeof(void*));
#endif
}

template <class Sig>
struct method_of;
template <class R, class... A>
struct method_of<R(A...)> {
  template <class C>
  static method_decl make(R (C::*pmf)(A...), const char* name, const char* sig) noexcept {
    return {name, sig, slot_of(pmf), returns_in_memory<R>()};
  }
};
template <class R, class... A>
struct method_of<R(A...) const> {
  template <class C>
  static method_decl make(R (C::*pmf)(A...) const, const char* name, const char* sig) noexcept {
    return {name, sig, slot_of(pmf), returns_in_memory<R>()};
  }
};
template <class R, class... A>
struct method_of<R(A...) noexcept> {
  template <class C>
  static method_decl make(R (C::*pmf)(A...) noexcept, const char* name,
                          const char* sig) noexcept {
    return {name, sig, slot_of(pmf), returns_in_memory<R>()};
  }
};
template <class R, class... A>
struct method_of<R(A...) const noexcept> {
  template <class C>
  static method_decl make(R (C::*pmf)(A...) const noexcept, const char* name,
                          const char* sig) noexcept {
    return {name, sig, slot_of(pmf), returns_in_memory<R>()};
  }
};

constexpr std::uint64_t fnv_offset = 1469598103934665603ull;
inline std::uint64_t fnv(std::uint64_t h, const char* s) noexcept {
  for (; *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 1099511628211ull;
  return (h ^ 0xffu) * 1099511628211ull;  // a separator, so "ab"+"c" != "a"+"bc"
}

// The storage behind a livemod_interface_info: the base's slots, then the declared ones. A
// declaration that does not match the vtable (a method missing, out of order, or not
// virtual) gives method_count 0, which the host refuses (object_layout_changed).
class interface_info_storage {
 public:
  interface_info_storage(const char* name, livemod_iid id, const livemod_interface_info* base,
                         std::initializer_list<method_decl> methods) {
    std::size_t first = base ? base->method_count : 0;
    bool ok = base == nullptr || base->method_count != 0;
    for (std::size_t i = 0; ok && i < first; ++i) {
      names_.push_back(base->method_names[i]);
      signatures_.push_back(base->method_signatures[i]);
      in_memory_.push_back(base->returns_in_memory[i]);
    }
    std::size_t expected = first;
    for (const method_decl& m : methods) {
      if (m.slot != static_cast<std::ptrdiff_t>(expected)) ok = false;
      names_.push_back(m.name);
      signatures_.push_back(m.signature);
      in_memory_.push_back(m.in_memory ? 1 : 0);
      ++expected;
    }
    std::uint64_t h = fnv_offset;
    for (std::size_t i = 0; i < names_.size(); ++i) h = fnv(fnv(h, names_[i]), signatures_[i]);
    info_.size = sizeof(livemod_interface_info);
    info_.method_count = ok ? static_cast<std::uint32_t>(names_.size()) : 0;
    info_.iid = id;
    info_.name = name;
    info_.base = base;
    info_.method_names = names_.data();
    info_.method_signatures = signatures_.data();
    info_.returns_in_memory = in_memory_.data();
    info_.layout_hash = h;
  }
  const livemod_interface_info* get() const noexcept { return &info_; }

 private:
  std::vector<const char*> names_, signatures_;
  std::vector<std::uint8_t> in_memory_;
  livemod_interface_info info_{};
};

}  // namespace detail
}  // namespace sdk

// livemod::unknown's own type info: the two destructor slots and query_interface.
inline const livemod_interface_info* livemod_type_info(const unknown*) noexcept {
  static const char* const names[] = {"~unknown", "~unknown(deleting)", "query_interface"};
  static const char* const signatures[] = {"void()", "void()", "void*(const livemod_iid&)"};
  static const std::uint8_t in_memory[] = {0, 0, 0};
  static const livemod_interface_info info = [] {
    livemod_interface_info i{};
    i.size = sizeof(livemod_interface_info);
    i.method_count = 3;
    i.iid = sdk::parse_iid("00000000-0000-0000-c000-000000000046");
    i.name = "livemod::unknown";
    i.base = nullptr;
    i.method_names = names;
    i.method_signatures = signatures;
    i.returns_in_memory = in_memory;
    std::uint64_t h = sdk::detail::fnv_offset;
    for (int k = 0; k < 3; ++k) h = sdk::detail::fnv(sdk::detail::fnv(h, names[k]), signatures[k]);
    i.layout_hash = h;
    return i;
  }();
  return &info;
}

namespace sdk {

// The base of a component: Impl implements Interface with its data in a Data block.
//   class counter final : public livemod::sdk::component<counter, ICounter, counter_data> {...};
// Data is default-constructed by the factory (give Impl a static `Data make_data()` to build
// it otherwise). Impl must not declare data members (the layout is fixed across versions).
template <class Impl, class Interface, class Data>
class component : public Interface {
 public:
  using data_type = Data;
  using interface_type = Interface;

  void* query_interface(const livemod_iid& id) noexcept final {
    return implements(type_info_of<Interface>(), id) ? static_cast<unknown*>(this) : nullptr;
  }

 protected:
  component() noexcept = default;
  ~component() override {
    livemod_object_fields& f = detail::access::fields(this);
    delete static_cast<Data*>(__atomic_load_n(&f.data, __ATOMIC_RELAXED));
    if (f.host) f.host->destroyed(f.host, static_cast<unknown*>(this));
  }
  Data& data() noexcept {
    return *static_cast<Data*>(
        __atomic_load_n(&detail::access::fields(this).data, detail::data_load_order));
  }
  const Data& data() const noexcept {
    return const_cast<component*>(this)->data();
  }
};

namespace detail {

template <class Impl>
void check_component() {
  static_assert(std::is_base_of_v<unknown, Impl>, "a class derives from livemod::sdk::component");
  static_assert(sizeof(Impl) == sizeof(unknown),
                "a component keeps its data in its Data block, not in members: every version "
                "of a class must have the same layout");
  static_assert(std::is_default_constructible_v<Impl>, "a component is default-constructible");
}

// The address point of Impl's vtable, read from a prototype built without data or host.
template <class Impl>
const void* const* vtable_of() noexcept {
  static const void* const* vt = [] {
    alignas(Impl) unsigned char buffer[sizeof(Impl)];
    Impl* p = ::new (static_cast<void*>(buffer)) Impl();
    const void* const* v = nullptr;
    std::memcpy(&v, static_cast<const void*>(p), sizeof v);
    p->~Impl();
    return v;
  }();
  return vt;
}

template <class T, class = void>
struct has_make_data : std::false_type {};
template <class T>
struct has_make_data<T, std::void_t<decltype(T::make_data())>> : std::true_type {};

template <class Impl>
typename Impl::data_type* make_data() {
  using data = typename Impl::data_type;
  if constexpr (has_make_data<Impl>::value)
    return new data(Impl::make_data());
  else
    return new data();
}

template <class Impl>
std::int32_t create(const livemod_object_host* host, void** out) noexcept {
  return guarded(nullptr, "create", [&]() -> std::int32_t {
    std::unique_ptr<typename Impl::data_type> d(make_data<Impl>());
    Impl* object = new Impl();
    livemod_object_fields& f = access::fields(object);
    f.data = d.release();
    f.host = host;
    *out = static_cast<void*>(static_cast<unknown*>(object));
    return LIVEMOD_OK;
  });
}

// Stores the new data (release: the block's contents come first), orders it before the vptr
// (a process-wide barrier where the machine needs one), then publishes this version's vtable
// with a release store.
inline void publish(void* object, livemod_object_fields& f, void* fresh,
                    const void* const* vtable) noexcept {
  __atomic_store_n(&f.data, fresh, __ATOMIC_RELEASE);
  if (f.host && f.host->publish_barrier) f.host->publish_barrier(f.host);
  __atomic_store_n(static_cast<const void* const**>(object), vtable, __ATOMIC_RELEASE);
}

template <class F>
struct converter_traits;
template <class R, class A>
struct converter_traits<R (*)(A&)> {
  using old_data = A;
  using result = R;
};

template <class Impl, auto Fn>
std::int32_t convert(void* object) noexcept {
  using traits = converter_traits<decltype(Fn)>;
  using old_data = std::remove_cv_t<typename traits::old_data>;
  using new_data = typename Impl::data_type;
  static_assert(std::is_same_v<std::remove_cv_t<typename traits::result>, new_data>,
                "a converter returns the new version's Data by value");
  livemod_object_fields& f = *fields_of(object);
  auto* old = static_cast<old_data*>(__atomic_load_n(&f.data, __ATOMIC_RELAXED));
  new_data* fresh = nullptr;
  std::int32_t rc = guarded(nullptr, "convert", [&]() -> std::int32_t {
    fresh = new new_data(Fn(*old));
    return LIVEMOD_OK;
  });
  if (rc < 0) return rc;  // untouched: still an object of the old version
  publish(object, f, fresh, vtable_of<Impl>());
  delete old;
  return LIVEMOD_OK;
}

// The data block stays as it is: only the vtable changes.
template <class Impl>
std::int32_t retarget(void* object) noexcept {
  livemod_object_fields& f = *fields_of(object);
  publish(object, f, __atomic_load_n(&f.data, __ATOMIC_RELAXED), vtable_of<Impl>());
  return LIVEMOD_OK;
}

class class_table_storage {
 public:
  explicit class_table_storage(std::initializer_list<livemod_class_info> classes)
      : classes_(classes) {
    table_.size = sizeof(livemod_class_table);
    table_.count = static_cast<std::uint32_t>(classes_.size());
    table_.classes = classes_.data();
  }
  const livemod_class_table* get() const noexcept { return &table_; }

 private:
  std::vector<livemod_class_info> classes_;
  livemod_class_table table_{};
};

}  // namespace detail

// One entry of the class table: class_def<Impl>(class_id, name, data_version), with an
// optional converter from the previous version of the class:
//   .converts_from<&fn>(old_data_version)   fn: NewData(OldData&), may throw (the object then
//                                           stays an object of the old version)
//   .converts_from_same_data(old_version)   the data block is kept as is
template <class Impl>
class class_def {
 public:
  class_def(livemod_iid class_id, const char* name, std::uint32_t data_version = 1) noexcept {
    detail::check_component<Impl>();
    const livemod_interface_info* iface = type_info_of<typename Impl::interface_type>();
    info_.size = sizeof(livemod_class_info);
    info_.slot_count = iface->method_count;
    info_.class_id = class_id;
    info_.name = name;
    info_.interface_info = iface;
    info_.vtable = detail::vtable_of<Impl>();
    info_.create = &detail::create<Impl>;
    info_.data_version = data_version;
    info_.converts_from = 0;
    info_.convert = nullptr;
  }
  template <auto Fn>
  class_def& converts_from(std::uint32_t old_data_version) noexcept {
    info_.convert = &detail::convert<Impl, Fn>;
    info_.converts_from = old_data_version;
    return *this;
  }
  class_def& converts_from_same_data(std::uint32_t old_data_version) noexcept {
    info_.convert = &detail::retarget<Impl>;
    info_.converts_from = old_data_version;
    return *this;
  }
  operator livemod_class_info() const noexcept { return info_; }  // NOLINT: implicit on purpose

 private:
  livemod_class_info info_{};
};

}  // namespace sdk
}  // namespace livemod

// Declares the type info of interface `iface`, which extends `base` (livemod::unknown or
// another interface), with its 128-bit id and its methods in declaration order:
//   LIVEMOD_INTERFACE(ICalc, livemod::unknown, "uuid", LIVEMOD_METHOD(add, int(int, int)),
//                     LIVEMOD_METHOD(name, const char*() const));
// Overloads are told apart by their signatures. Use at the interface's namespace scope.
#define LIVEMOD_INTERFACE(iface, base, iid_text, ...)                                          \
  inline const ::livemod_interface_info* livemod_type_info(const iface*) noexcept {           \
    using livemod_self = iface;                                                                \
    static const ::livemod::sdk::detail::interface_info_storage livemod_storage_(             \
        #iface, ::livemod::sdk::parse_iid(iid_text),                                           \
        livemod_type_info(static_cast<const base*>(nullptr)), {__VA_ARGS__});                 \
    return livemod_storage_.get();                                                             \
  }                                                                                            \
  static_assert(std::is_base_of_v<base, iface> && std::is_abstract_v<iface>,                  \
                #iface " extends " #base)

// One method of LIVEMOD_INTERFACE: its name and its signature (`int(int, double)`, with
// `const` / `noexcept` when the method has them).
#define LIVEMOD_METHOD(name, ...)                                                            \
  ::livemod::sdk::detail::method_of<__VA_ARGS__>::make(&livemod_self::name, #name, #__VA_ARGS__)

// Defines the module's exported class table (livemod_get_classes) from class_def entries.
#define LIVEMOD_CLASSES(...)                                                             \
  extern "C" LIVEMOD_EXPORT const ::livemod_class_table* livemod_get_classes() noexcept { \
    static const ::livemod::sdk::detail::class_table_storage livemod_table_{__VA_ARGS__}; \
    return livemod_table_.get();                                                          \
  }                                                                                       \
  static_assert(std::is_convertible_v<decltype(&livemod_get_classes), ::livemod_get_classes_fn>)

// For a module that has only classes: answers livemod_get_api(LIVEMOD_CLASSES_API_ID) with the
// class table, so a live_module can host it (live_options.interface_id = LIVEMOD_CLASSES_API_ID).
#define LIVEMOD_CLASSES_API()                                                               \
  extern "C" LIVEMOD_EXPORT const void* livemod_get_api(const char* livemod_id_) noexcept { \
    return std::strcmp(livemod_id_, LIVEMOD_CLASSES_API_ID) == 0                            \
               ? static_cast<const void*>(livemod_get_classes())                            \
               : nullptr;                                                                   \
  }
