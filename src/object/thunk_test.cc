// The thunks and code memory under GoogleTest: on the machine the build runs on, and
// cross-compiled for AArch64 under qemu-user (livemod_thunk_test_aarch64,
// cmake/LivemodAarch64Tests.cmake). Each build tests the one emitter it compiles.
//
// Every method is reached as a real call would reach it: through a function pointer (or a
// vtable slot) that holds a thunk address, with the arguments in the registers and on the
// stack where the ABI puts them. The entry the thunks call writes garbage over every argument
// register before it returns, so an argument that arrives intact was saved and restored by the
// thunk, not left alone by luck.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "object/thunk.h"
#include "os/code_memory.h"
#include "testing/matchers.h"

namespace livemod::thunk_cases {

using testing_support::HasCode;
using testing_support::IsOk;

using object_detail::thunk_block;
using object_detail::thunk_spec;

// ---------------------------------------------------------------------------------------------
// The object, the entry, and what each side saw.

// A stand-in for an object of the old version: thunks never read it, they only pass `this`.
struct fake_object {
  const void* vptr = nullptr;
  long id = 0;
};

// One thunk's context: where the entry sends the call, and what it saw.
struct slot_context {
  const void* target = nullptr;
  void* seen_self = nullptr;
  std::atomic<int> calls{0};
  bool stack_aligned = true;
};

inline bool frame_aligned(const void* frame) {
  return reinterpret_cast<std::uintptr_t>(frame) % 16 == 0;
}

// Overwrites every register an argument can travel in (x86-64 rax with 0, see below). The asm
// says it writes them, so the compiler keeps its own values elsewhere; only the thunk's saved
// copies can bring the caller's values back.
[[gnu::noinline]] inline void clobber_argument_registers() {
#if defined(__x86_64__)
  asm volatile(
      "movq $0x5a5a5a5a5a5a5a5a, %%rdi\n\t"
      "movq %%rdi, %%rsi\n\tmovq %%rdi, %%rdx\n\tmovq %%rdi, %%rcx\n\t"
      "movq %%rdi, %%r8\n\tmovq %%rdi, %%r9\n\t"
      // al = 0 tells a variadic callee no vector register holds an argument: its prologue
      // then skips saving xmm0-7, so a thunk that lost rax loses the doubles.
      "xorl %%eax, %%eax\n\t"
      "movq %%rdi, %%xmm0\n\tpshufd $0, %%xmm0, %%xmm0\n\t"
      "movaps %%xmm0, %%xmm1\n\tmovaps %%xmm0, %%xmm2\n\tmovaps %%xmm0, %%xmm3\n\t"
      "movaps %%xmm0, %%xmm4\n\tmovaps %%xmm0, %%xmm5\n\tmovaps %%xmm0, %%xmm6\n\t"
      "movaps %%xmm0, %%xmm7\n\t"
      :
      :
      : "rdi", "rsi", "rdx", "rcx", "r8", "r9", "rax", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
        "xmm5", "xmm6", "xmm7", "memory");
#elif defined(__aarch64__)
  asm volatile(
      "mov x0, #0x5a5a\n\t"
      "mov x1, x0\n\tmov x2, x0\n\tmov x3, x0\n\tmov x4, x0\n\t"
      "mov x5, x0\n\tmov x6, x0\n\tmov x7, x0\n\tmov x8, x0\n\t"
      "dup v0.2d, x0\n\tdup v1.2d, x0\n\tdup v2.2d, x0\n\tdup v3.2d, x0\n\t"
      "dup v4.2d, x0\n\tdup v5.2d, x0\n\tdup v6.2d, x0\n\tdup v7.2d, x0\n\t"
      :
      :
      : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "v0", "v1", "v2", "v3", "v4",
        "v5", "v6", "v7", "memory");
#endif
}

// The entry of every thunk here: records self and its alignment, clobbers, sends the call on.
inline const void* recording_entry(void* self, void* context) noexcept {
  auto* slot = static_cast<slot_context*>(context);
  slot->seen_self = self;
  // The ABI promises a 16-byte aligned stack at a call; the frame address shows it (x86-64:
  // the caller's call pushed 8 bytes and our push rbp another 8).
  slot->stack_aligned = frame_aligned(__builtin_frame_address(0));
  slot->calls.fetch_add(1, std::memory_order_relaxed);
  clobber_argument_registers();
  return slot->target;
}

// For calls from many threads at once: counts, records nothing else.
inline const void* counting_entry(void*, void* context) noexcept {
  auto* slot = static_cast<slot_context*>(context);
  slot->calls.fetch_add(1, std::memory_order_relaxed);
  clobber_argument_registers();
  return slot->target;
}

// What the implementation (the "new version's method") saw.
struct seen {
  const void* self = nullptr;
  const void* result_pointer = nullptr;
  std::vector<long> ints;
  std::vector<double> reals;
  bool stack_aligned = true;
};
inline seen last_call;

// Called at the top of an implementation with that implementation's frame address.
inline void note_call(const void* self, const void* frame) {
  last_call = seen{};
  last_call.self = self;
  // On entry to a function the stack is 8 mod 16 on x86-64 (the return address), and its
  // frame (after push rbp) 0 mod 16; on AArch64 it is always 16-aligned. A thunk that left the
  // stack shifted breaks this.
  last_call.stack_aligned = frame_aligned(frame);
}

// Thunks and their contexts, the contexts at stable addresses (a deque never moves them).
struct harness {
  std::deque<slot_context> slots;
  std::optional<thunk_block> block;
  std::optional<error> failure;

  struct target {
    const void* code;
    bool returns_in_memory = false;
  };
  explicit harness(std::initializer_list<target> targets,
                   object_detail::convert_entry_fn entry = &recording_entry) {
    std::vector<thunk_spec> specs;
    for (const target& t : targets) {
      slot_context& slot = slots.emplace_back();
      slot.target = t.code;
      specs.push_back(thunk_spec{entry, &slot, t.returns_in_memory});
    }
    auto made = thunk_block::create(specs);
    if (made) {
      block.emplace(std::move(*made));
    } else {
      failure = made.error();
    }
  }
  bool ok() const { return block.has_value(); }

  // Thunk i as a function of the given type.
  template <class Fn>
  Fn* as(std::size_t i) const {
    Fn* fn = nullptr;
    const void* code = block->address(i);
    static_assert(sizeof fn == sizeof code);
    std::memcpy(&fn, &code, sizeof fn);
    return fn;
  }
};

template <class Fn>
const void* code_of(Fn* fn) {
  const void* code = nullptr;
  static_assert(sizeof fn == sizeof code);
  std::memcpy(&code, &fn, sizeof code);
  return code;
}

// Hides a pointer's origin from the optimiser, so a virtual call through it is a real one and
// a function pointer is really loaded.
template <class T>
T* opaque(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

// Argument values that show truncation, swaps and sign mistakes: each position is distinct and
// has high bits set.
constexpr long int_arg(int i) { return static_cast<long>(0x7100000000000000L) + 0x1111L * (i + 1); }
constexpr double real_arg(int i) { return 1.0e10 + 0.125 * (i + 1); }
constexpr float float_arg(int i) { return 0.5f + static_cast<float>(i); }

// ---------------------------------------------------------------------------------------------
// The implementations thunks jump to.

template <class... A>
[[gnu::noinline]] long ints_impl(fake_object* self, A... args) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {static_cast<long>(args)...};
  return self->id * 1000 + static_cast<long>(sizeof...(A));
}

// One implementation per arity, 0..8 integer arguments after `this`.
inline std::array<const void*, 9> ints_targets() {
  return {code_of(&ints_impl<>),
          code_of(&ints_impl<long>),
          code_of(&ints_impl<long, long>),
          code_of(&ints_impl<long, long, long>),
          code_of(&ints_impl<long, long, long, long>),
          code_of(&ints_impl<long, long, long, long, long>),
          code_of(&ints_impl<long, long, long, long, long, long>),
          code_of(&ints_impl<long, long, long, long, long, long, long>),
          code_of(&ints_impl<long, long, long, long, long, long, long, long>)};
}

[[gnu::noinline]] inline double reals_impl(fake_object* self, double a, float b, double c,
                                           float d, double e, float f, double g, float h) {
  note_call(self, __builtin_frame_address(0));
  last_call.reals = {a, b, c, d, e, f, g, h};
  return a + c + e + g;
}

// Integers and reals interleaved, with narrow types (int, char, short, float): each class of
// register is filled in its own order.
[[gnu::noinline]] inline float mixed_impl(fake_object* self, int a, double b, long c, float d,
                                          char e, double f, short g, float h, unsigned i) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {a, c, e, g, static_cast<long>(i)};
  last_call.reals = {b, d, f, h};
  return d + h;
}

// 10 integers and 10 doubles: 5 integers (after `this`) and 2 doubles go on the stack on
// x86-64, 3 integers and 2 doubles on AArch64.
[[gnu::noinline]] inline long stack_impl(fake_object* self, long i0, double d0, long i1,
                                         double d1, long i2, double d2, long i3, double d3,
                                         long i4, double d4, long i5, double d5, long i6,
                                         double d6, long i7, double d7, long i8, double d8,
                                         long i9, double d9) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {i0, i1, i2, i3, i4, i5, i6, i7, i8, i9};
  last_call.reals = {d0, d1, d2, d3, d4, d5, d6, d7, d8, d9};
  return i9 - i0;
}

// Returned in memory: the caller passes where to write it (x86-64: rdi, moving `this` to rsi;
// AArch64: x8, `this` stays in x0).
struct big {
  long v[6];
};

[[gnu::noinline]] inline big big_impl(fake_object* self, long a, double b) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {a};
  last_call.reals = {b};
  big out{};
  for (int i = 0; i < 6; ++i) out.v[i] = self->id * 100 + a + i;
  return out;
}

// A large struct as an argument: on the stack on x86-64, a pointer to a copy on AArch64.
[[gnu::noinline]] inline long big_argument_impl(fake_object* self, big value, long after) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints.assign(value.v, value.v + 6);
  last_call.ints.push_back(after);
  return after;
}

// Two registers each way: rax:xmm0 on x86-64, x0:d0 on AArch64.
struct pair_result {
  long i;
  double d;
};
[[gnu::noinline]] inline pair_result pair_impl(fake_object* self, pair_result in) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {in.i};
  last_call.reals = {in.d};
  return pair_result{in.i + 1, in.d * 2};
}

[[gnu::noinline]] inline double double_impl(fake_object* self, double x, float y) {
  note_call(self, __builtin_frame_address(0));
  last_call.reals = {x, y};
  return x * 3.0 + y;
}

// long double: x86-64 passes it on the stack and returns it in st(0) (x87), AArch64 passes
// and returns it (binary128) in q registers. The thunk never sees a return value: it jumps.
[[gnu::noinline]] inline long double long_double_impl(fake_object* self, long double a,
                                                      double b, long double c) {
  note_call(self, __builtin_frame_address(0));
  last_call.reals = {static_cast<double>(a), b, static_cast<double>(c)};
  return a * c + static_cast<long double>(b);
}

// A variadic method: x86-64 passes the count of vector registers used in al (rax is kept);
// both ABIs put the rest where a non-variadic call would. Aligned to 256 so that the entry's
// return value (this address, in rax) has al = 0: a thunk that did not restore rax would tell
// the callee no vector register holds an argument, and the doubles would be lost.
[[gnu::noinline, gnu::aligned(256)]] inline long variadic_impl(fake_object* self, int count, ...) {
  note_call(self, __builtin_frame_address(0));
  va_list list;
  va_start(list, count);
  for (int i = 0; i < count; ++i) {
    last_call.ints.push_back(va_arg(list, long));
    last_call.reals.push_back(va_arg(list, double));
  }
  va_end(list);
  return count;
}

// The overload set of one interface, four slots with four signatures.
[[gnu::noinline]] inline long overload_long(fake_object* self, long a) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {a};
  return a + 1;
}
[[gnu::noinline]] inline double overload_double(fake_object* self, double a) {
  note_call(self, __builtin_frame_address(0));
  last_call.reals = {a};
  return a + 1;
}
[[gnu::noinline]] inline big overload_big(fake_object* self, long a) {
  return big_impl(self, a, 0.0);
}
[[gnu::noinline]] inline float overload_float(fake_object* self, float a, long b) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {b};
  last_call.reals = {a};
  return a + 1;
}

// ---------------------------------------------------------------------------------------------
// A real class with virtual methods, whose vtable (in RELRO) gets thunks, as the object layer
// does to an old version's class.

class widget {
 public:
  explicit widget(long id) : id_(id) {}
  virtual long add(long a, long b) { return a + b; }
  virtual double mix(int a, double b, float c, long d) {
    return a + b + c + static_cast<double>(d);
  }
  virtual big make(long a) {
    big out{};
    out.v[0] = a;
    return out;
  }
  virtual ~widget() = default;
  long id_;
};

// The "new version" of each method: a function taking `this` first, as the ABI passes it.
[[gnu::noinline]] inline long new_add(widget* self, long a, long b) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {a, b};
  return a - b + self->id_;
}
[[gnu::noinline]] inline double new_mix(widget* self, int a, double b, float c, long d) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {a, d};
  last_call.reals = {b, c};
  return -1.0;
}
[[gnu::noinline]] inline big new_make(widget* self, long a) {
  note_call(self, __builtin_frame_address(0));
  last_call.ints = {a};
  big out{};
  for (int i = 0; i < 6; ++i) out.v[i] = self->id_ + i;
  return out;
}

// The same without recording: safe to call from many threads at once.
[[gnu::noinline]] inline long pure_add(widget* self, long a, long b) { return a * b + self->id_; }

inline void** vtable_of(widget* w) {
  void** vptr = nullptr;
  std::memcpy(&vptr, static_cast<void*>(w), sizeof vptr);
  return vptr;
}

inline int access_of(const void* address) {
  auto r = os::page_access_of(address);
  return r ? *r : -1;
}

// ---------------------------------------------------------------------------------------------
// The seam: a protect() that fails on a chosen call.

inline int protect_calls = 0;
inline int protect_fail_at = -1;  // the 0-based call that fails with EACCES
inline os::code_memory_sys_api real_sys;

inline int failing_protect(void* base, std::size_t bytes, int access) {
  if (protect_calls++ == protect_fail_at) {
    errno = EACCES;
    return -1;
  }
  return real_sys.protect(base, bytes, access);
}

inline os::code_memory_sys_api protect_failing_at(int call) {
  real_sys = os::current_code_memory_sys_api();
  protect_calls = 0;
  protect_fail_at = call;
  os::code_memory_sys_api fake = real_sys;
  fake.protect = &failing_protect;
  return fake;
}

inline std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

}  // namespace livemod::thunk_cases

// =============================================================================================
// The cases.

namespace livemod::thunk_cases {

TEST(thunk, supported_on_this_machine) { EXPECT_TRUE(thunk_block::supported()); }

TEST(thunk, integer_arguments_0_to_8) {
  const auto targets = ints_targets();
  harness h{{targets[0]}, {targets[1]}, {targets[2]}, {targets[3]}, {targets[4]},
            {targets[5]}, {targets[6]}, {targets[7]}, {targets[8]}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 42};
  const long a[8] = {int_arg(0), int_arg(1), int_arg(2), int_arg(3),
                     int_arg(4), int_arg(5), int_arg(6), int_arg(7)};
  // Each arity in turn, checked right after its call (last_call is overwritten by the next).
  auto check = [&](std::size_t n, long got) {
    EXPECT_EQ(got, 42000L + static_cast<long>(n));
    EXPECT_EQ(last_call.self, static_cast<const void*>(&object));
    EXPECT_TRUE(last_call.stack_aligned);
    EXPECT_EQ(last_call.ints.size(), n);
    for (std::size_t i = 0; i < n && i < last_call.ints.size(); ++i) {
      EXPECT_EQ(last_call.ints[i], a[i]);
    }
    EXPECT_EQ(h.slots[n].calls.load(), 1);
    EXPECT_EQ(h.slots[n].seen_self, static_cast<void*>(&object));
    EXPECT_TRUE(h.slots[n].stack_aligned);
  };
  check(0, h.as<long(fake_object*)>(0)(&object));
  check(1, h.as<long(fake_object*, long)>(1)(&object, a[0]));
  check(2, h.as<long(fake_object*, long, long)>(2)(&object, a[0], a[1]));
  check(3, h.as<long(fake_object*, long, long, long)>(3)(&object, a[0], a[1], a[2]));
  check(4, h.as<long(fake_object*, long, long, long, long)>(4)(&object, a[0], a[1], a[2], a[3]));
  check(5, h.as<long(fake_object*, long, long, long, long, long)>(5)(&object, a[0], a[1], a[2],
                                                                      a[3], a[4]));
  check(6, h.as<long(fake_object*, long, long, long, long, long, long)>(6)(
               &object, a[0], a[1], a[2], a[3], a[4], a[5]));
  check(7, h.as<long(fake_object*, long, long, long, long, long, long, long)>(7)(
               &object, a[0], a[1], a[2], a[3], a[4], a[5], a[6]));
  check(8, h.as<long(fake_object*, long, long, long, long, long, long, long, long)>(8)(
               &object, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
}

TEST(thunk, doubles_and_floats) {
  harness h{{code_of(&reals_impl)}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 1};
  const double got = h.as<decltype(reals_impl)>(0)(&object, real_arg(0), float_arg(1),
                                                    real_arg(2), float_arg(3), real_arg(4),
                                                    float_arg(5), real_arg(6), float_arg(7));
  EXPECT_EQ(got, real_arg(0) + real_arg(2) + real_arg(4) + real_arg(6));
  EXPECT_EQ(last_call.self, static_cast<const void*>(&object));
  EXPECT_TRUE(h.slots[0].stack_aligned);
  ASSERT_TRUE(last_call.reals.size() == 8);
  for (int i = 0; i < 8; ++i) {
    const double want = i % 2 == 0 ? real_arg(i) : static_cast<double>(float_arg(i));
    EXPECT_EQ(last_call.reals[static_cast<std::size_t>(i)], want);
  }
  EXPECT_EQ(h.slots[0].seen_self, static_cast<void*>(&object));
  EXPECT_TRUE(last_call.stack_aligned);
}

TEST(thunk, mixed_integer_and_float_arguments) {
  harness h{{code_of(&mixed_impl)}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 1};
  const float got = h.as<decltype(mixed_impl)>(0)(&object, -7, real_arg(0), int_arg(1),
                                                   float_arg(2), 'q', real_arg(3),
                                                   static_cast<short>(-1234), float_arg(4),
                                                   0xfedcba98u);
  EXPECT_EQ(got, float_arg(2) + float_arg(4));
  EXPECT_EQ(last_call.self, static_cast<const void*>(&object));
  ASSERT_TRUE(last_call.ints.size() == 5 && last_call.reals.size() == 4);
  EXPECT_EQ(last_call.ints[0], -7L);
  EXPECT_EQ(last_call.ints[1], int_arg(1));
  EXPECT_EQ(last_call.ints[2], static_cast<long>('q'));
  EXPECT_EQ(last_call.ints[3], -1234L);
  EXPECT_EQ(last_call.ints[4], 0xfedcba98L);
  EXPECT_EQ(last_call.reals[0], real_arg(0));
  EXPECT_EQ(last_call.reals[1], static_cast<double>(float_arg(2)));
  EXPECT_EQ(last_call.reals[2], real_arg(3));
  EXPECT_EQ(last_call.reals[3], static_cast<double>(float_arg(4)));
}

TEST(thunk, stack_arguments_10_ints_10_doubles) {
  harness h{{code_of(&stack_impl)}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 1};
  const long got = h.as<decltype(stack_impl)>(0)(
      &object, int_arg(0), real_arg(0), int_arg(1), real_arg(1), int_arg(2), real_arg(2),
      int_arg(3), real_arg(3), int_arg(4), real_arg(4), int_arg(5), real_arg(5), int_arg(6),
      real_arg(6), int_arg(7), real_arg(7), int_arg(8), real_arg(8), int_arg(9), real_arg(9));
  EXPECT_EQ(got, int_arg(9) - int_arg(0));
  EXPECT_EQ(last_call.self, static_cast<const void*>(&object));
  EXPECT_TRUE(h.slots[0].stack_aligned);
  EXPECT_TRUE(last_call.stack_aligned);
  ASSERT_TRUE(last_call.ints.size() == 10 && last_call.reals.size() == 10);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(last_call.ints[static_cast<std::size_t>(i)], int_arg(i));
    EXPECT_EQ(last_call.reals[static_cast<std::size_t>(i)], real_arg(i));
  }
}

TEST(thunk, large_struct_returned_in_memory) {
  harness h{{code_of(&big_impl), true}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 5};
  const big got = h.as<decltype(big_impl)>(0)(&object, int_arg(0), real_arg(1));
  // The entry saw the object, not the hidden result pointer.
  EXPECT_EQ(h.slots[0].seen_self, static_cast<void*>(&object));
  EXPECT_EQ(last_call.self, static_cast<const void*>(&object));
  ASSERT_TRUE(last_call.ints.size() == 1 && last_call.reals.size() == 1);
  EXPECT_EQ(last_call.ints[0], int_arg(0));
  EXPECT_EQ(last_call.reals[0], real_arg(1));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got.v[i], 500 + int_arg(0) + i);
}

TEST(thunk, large_struct_argument) {
  harness h{{code_of(&big_argument_impl)}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 1};
  const big value{{int_arg(0), int_arg(1), int_arg(2), int_arg(3), int_arg(4), int_arg(5)}};
  const long got = h.as<decltype(big_argument_impl)>(0)(&object, value, int_arg(6));
  EXPECT_EQ(got, int_arg(6));
  EXPECT_EQ(h.slots[0].seen_self, static_cast<void*>(&object));
  ASSERT_TRUE(last_call.ints.size() == 7);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(last_call.ints[static_cast<std::size_t>(i)], int_arg(i));
  }
}

TEST(thunk, small_struct_in_registers) {
  harness h{{code_of(&pair_impl)}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 1};
  const pair_result got =
      h.as<decltype(pair_impl)>(0)(&object, pair_result{int_arg(3), real_arg(3)});
  EXPECT_EQ(got.i, int_arg(3) + 1);
  EXPECT_EQ(got.d, real_arg(3) * 2);
  EXPECT_EQ(h.slots[0].seen_self, static_cast<void*>(&object));
}

TEST(thunk, double_return) {
  harness h{{code_of(&double_impl)}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 1};
  const double got = h.as<decltype(double_impl)>(0)(&object, real_arg(2), float_arg(3));
  EXPECT_EQ(got, real_arg(2) * 3.0 + static_cast<double>(float_arg(3)));
  EXPECT_EQ(h.slots[0].seen_self, static_cast<void*>(&object));
}

TEST(thunk, long_double_arguments_and_return) {
  harness h{{code_of(&long_double_impl)}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 1};
  // 1/3 is inexact in double: a value squeezed through a double register would differ.
  const long double third = 1.0L / 3.0L;
  const long double got = h.as<decltype(long_double_impl)>(0)(&object, third, real_arg(1), 3.0L);
  EXPECT_TRUE(got == third * 3.0L + static_cast<long double>(real_arg(1)));
  EXPECT_EQ(h.slots[0].seen_self, static_cast<void*>(&object));
  ASSERT_TRUE(last_call.reals.size() == 3);
  EXPECT_EQ(last_call.reals[1], real_arg(1));
}

TEST(thunk, variadic_method) {
  harness h{{code_of(&variadic_impl)}};
  ASSERT_TRUE(h.ok());
  fake_object object{nullptr, 1};
  const long got = h.as<long(fake_object*, int, ...)>(0)(
      &object, 6, int_arg(0), real_arg(0), int_arg(1), real_arg(1), int_arg(2), real_arg(2),
      int_arg(3), real_arg(3), int_arg(4), real_arg(4), int_arg(5), real_arg(5));
  EXPECT_EQ(got, 6L);
  ASSERT_TRUE(last_call.ints.size() == 6 && last_call.reals.size() == 6);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(last_call.ints[static_cast<std::size_t>(i)], int_arg(i));
    EXPECT_EQ(last_call.reals[static_cast<std::size_t>(i)], real_arg(i));
  }
}

TEST(thunk, overloads_in_one_block) {
  harness h{{code_of(&overload_long)},
            {code_of(&overload_double)},
            {code_of(&overload_big), true},
            {code_of(&overload_float)}};
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h.block->size(), std::size_t{4});
  EXPECT_TRUE(h.block->address(4) == nullptr);
  fake_object object{nullptr, 3};

  EXPECT_EQ(h.as<decltype(overload_long)>(0)(&object, int_arg(0)), int_arg(0) + 1);
  EXPECT_EQ(h.as<decltype(overload_double)>(1)(&object, real_arg(0)), real_arg(0) + 1);
  const big b = h.as<decltype(overload_big)>(2)(&object, 9);
  EXPECT_EQ(b.v[5], 300L + 9 + 5);
  EXPECT_EQ(h.as<decltype(overload_float)>(3)(&object, 2.5f, int_arg(1)), 3.5f);
  ASSERT_TRUE(last_call.ints.size() == 1);
  EXPECT_EQ(last_call.ints[0], int_arg(1));
  // Each thunk called its own context once, with the object.
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(h.slots[i].calls.load(), 1);
    EXPECT_EQ(h.slots[i].seen_self, static_cast<void*>(&object));
  }
}

TEST(thunk, real_virtual_calls_through_a_patched_vtable) {
  widget* w = opaque(new widget(1000));
  void** vtable = vtable_of(w);
  // The vtable is in RELRO: read-only after relocation.
  EXPECT_EQ(access_of(vtable), int{os::access_read});
  void* original[3] = {vtable[0], vtable[1], vtable[2]};
  harness h{{code_of(&new_add)}, {code_of(&new_mix)}, {code_of(&new_make), true}};
  ASSERT_TRUE(h.ok());
  void* thunks[3] = {const_cast<void*>(h.block->address(0)),
                     const_cast<void*>(h.block->address(1)),
                     const_cast<void*>(h.block->address(2))};
  ASSERT_THAT(os::patch_pointers(vtable, thunks), IsOk());
  EXPECT_EQ(access_of(vtable), int{os::access_read});

  EXPECT_EQ(w->add(int_arg(0), int_arg(1)), int_arg(0) - int_arg(1) + 1000);
  EXPECT_EQ(h.slots[0].seen_self, static_cast<void*>(w));
  EXPECT_EQ(last_call.self, static_cast<const void*>(w));
  ASSERT_TRUE(last_call.ints.size() == 2);
  EXPECT_EQ(last_call.ints[1], int_arg(1));

  EXPECT_EQ(w->mix(-3, real_arg(0), float_arg(1), int_arg(2)), -1.0);
  ASSERT_TRUE(last_call.ints.size() == 2 && last_call.reals.size() == 2);
  EXPECT_EQ(last_call.ints[0], -3L);
  EXPECT_EQ(last_call.ints[1], int_arg(2));
  EXPECT_EQ(last_call.reals[0], real_arg(0));
  EXPECT_EQ(last_call.reals[1], static_cast<double>(float_arg(1)));

  const big made = w->make(int_arg(3));
  EXPECT_EQ(h.slots[2].seen_self, static_cast<void*>(w));
  EXPECT_EQ(last_call.self, static_cast<const void*>(w));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(made.v[i], 1000L + i);

  // Back to the real methods (other cases and the destructor use this class).
  ASSERT_THAT(os::patch_pointers(vtable, original), IsOk());
  EXPECT_EQ(access_of(vtable), int{os::access_read});
  EXPECT_EQ(w->add(2, 3), 5L);
  delete w;
}

TEST(thunk, many_threads_through_one_thunk) {
  harness h({{code_of(&pure_add)}}, &counting_entry);
  ASSERT_TRUE(h.ok());
  auto* fn = h.as<decltype(pure_add)>(0);
  constexpr int threads = 4;
  constexpr int calls = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      widget w(t);
      for (long i = 0; i < calls; ++i) {
        if (fn(&w, i, 3) != i * 3 + t) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& t : pool) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(h.slots[0].calls.load(), threads * calls);
}

TEST(thunk, a_null_entry_is_refused) {
  std::vector<thunk_spec> specs{thunk_spec{nullptr, nullptr, false}};
  EXPECT_THAT(thunk_block::create(specs), HasCode(errc::code_memory_failed));
}

TEST(thunk, an_empty_block) {
  auto made = thunk_block::create({});
  ASSERT_THAT(made, IsOk());
  EXPECT_EQ(made->size(), std::size_t{0});
  EXPECT_TRUE(made->address(0) == nullptr);
}

// --- code_region -----------------------------------------------------------------------------

TEST(thunk, thunk_code_is_read_execute_only) {
  harness h{{code_of(&double_impl)}};
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(access_of(h.block->address(0)), os::access_read | os::access_execute);
}

TEST(thunk, code_region_is_writable_then_executable_never_both) {
  auto region = os::code_region::create(100);
  ASSERT_THAT(region, IsOk());
  EXPECT_EQ(region->size(), page());
  ASSERT_TRUE(region->writable() != nullptr);
  EXPECT_TRUE(region->executable() == nullptr);
  EXPECT_EQ(access_of(region->writable()), os::access_read | os::access_write);
  void* base = region->writable();
  std::memset(base, 0, 100);
  ASSERT_THAT(region->seal(), IsOk());
  EXPECT_TRUE(region->writable() == nullptr);
  EXPECT_EQ(region->executable(), static_cast<const void*>(base));
  EXPECT_EQ(access_of(base), os::access_read | os::access_execute);
  ASSERT_THAT(region->seal(), IsOk());  // again: nothing to do
  // Moved: the new owner has the mapping, the old one nothing.
  os::code_region moved = std::move(*region);
  EXPECT_EQ(moved.executable(), static_cast<const void*>(base));
  EXPECT_TRUE(region->executable() == nullptr);
  EXPECT_THAT(region->seal(), HasCode(errc::code_memory_failed));
}

// Checked through the seam, not the memory map: once unmapped, the address may be reused by
// any allocation (reading /proc/self/maps allocates) before a test could look at it.
inline void* unmapped_base = nullptr;
inline std::size_t unmapped_bytes = 0;

TEST(thunk, code_region_is_unmapped_when_destroyed) {
  os::code_memory_sys_api fake = os::current_code_memory_sys_api();
  real_sys = fake;
  fake.unmap = [](void* base, std::size_t bytes) {
    unmapped_base = base;
    unmapped_bytes = bytes;
    return real_sys.unmap(base, bytes);
  };
  os::scoped_code_memory_sys_override use(fake);
  void* base = nullptr;
  {
    auto region = os::code_region::create(1);
    ASSERT_THAT(region, IsOk());
    base = region->writable();
    EXPECT_TRUE(access_of(base) >= 0);
    os::code_region moved = std::move(*region);  // the moved-from region unmaps nothing
  }
  EXPECT_EQ(unmapped_base, base);
  EXPECT_EQ(unmapped_bytes, page());
}

TEST(thunk, code_region_map_failure) {
  os::code_memory_sys_api fake = os::current_code_memory_sys_api();
  fake.map = [](std::size_t) -> void* {
    errno = ENOMEM;
    return nullptr;
  };
  os::scoped_code_memory_sys_override use(fake);
  auto region = os::code_region::create(64);
  EXPECT_THAT(region, HasCode(errc::code_memory_failed));
  if (!region) {
    EXPECT_EQ(region.error().os_text(), std::string(std::strerror(ENOMEM)));
  }
  EXPECT_THAT(thunk_block::create(std::vector<thunk_spec>{
                       thunk_spec{&recording_entry, nullptr, false}}), HasCode(errc::code_memory_failed));
}

TEST(thunk, code_region_seal_failure) {
  os::scoped_code_memory_sys_override use(protect_failing_at(0));
  auto region = os::code_region::create(64);
  ASSERT_THAT(region, IsOk());
  auto sealed = region->seal();
  EXPECT_THAT(sealed, HasCode(errc::code_memory_failed));
  if (!sealed) {
    EXPECT_EQ(sealed.error().os_text(), std::string(std::strerror(EACCES)));
  }
  // Still writable and never executable.
  EXPECT_TRUE(region->executable() == nullptr);
  EXPECT_EQ(access_of(region->writable()), os::access_read | os::access_write);
  protect_calls = 0;
  EXPECT_THAT(thunk_block::create(std::vector<thunk_spec>{
                       thunk_spec{&recording_entry, nullptr, false}}), HasCode(errc::code_memory_failed));
}

// --- patch_pointers --------------------------------------------------------------------------

// A read-only anonymous page holding pointers, unmapped at the end.
struct read_only_page {
  void** slots = nullptr;
  std::size_t bytes = 0;
  explicit read_only_page(std::size_t pages = 1, int prot = PROT_READ) : bytes(pages * page()) {
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return;
    slots = static_cast<void**>(base);
    mprotect(base, bytes, prot);
  }
  ~read_only_page() {
    if (slots != nullptr) munmap(slots, bytes);
  }
  read_only_page(const read_only_page&) = delete;
  read_only_page& operator=(const read_only_page&) = delete;
};

inline void* value(std::uintptr_t v) { return reinterpret_cast<void*>(v); }

TEST(thunk, patch_pointers_restores_read_only) {
  read_only_page p;
  ASSERT_TRUE(p.slots != nullptr);
  EXPECT_EQ(access_of(p.slots), int{os::access_read});
  void* values[3] = {value(0x1000), value(0x2000), value(0x3000)};
  ASSERT_THAT(os::patch_pointers(p.slots + 5, values), IsOk());
  EXPECT_EQ(p.slots[4], nullptr);
  EXPECT_EQ(p.slots[5], value(0x1000));
  EXPECT_EQ(p.slots[7], value(0x3000));
  EXPECT_EQ(p.slots[8], nullptr);
  EXPECT_EQ(access_of(p.slots), int{os::access_read});
}

TEST(thunk, patch_pointers_across_two_pages_with_different_protections) {
  read_only_page p(2);
  ASSERT_TRUE(p.slots != nullptr);
  const std::size_t per_page = page() / sizeof(void*);
  // The second page is writable and stays so; the first goes back to read-only.
  ASSERT_TRUE(mprotect(p.slots + per_page, page(), PROT_READ | PROT_WRITE) == 0);
  void* values[4] = {value(1), value(2), value(3), value(4)};
  ASSERT_THAT(os::patch_pointers(p.slots + per_page - 2, values), IsOk());
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(p.slots[per_page - 2 + i], values[i]);
  EXPECT_EQ(access_of(p.slots), int{os::access_read});
  EXPECT_EQ(access_of(p.slots + per_page), os::access_read | os::access_write);
}

TEST(thunk, patch_pointers_on_a_writable_page_changes_no_protection) {
  read_only_page p(1, PROT_READ | PROT_WRITE);
  ASSERT_TRUE(p.slots != nullptr);
  // No protect call at all: the seam would fail the first one.
  os::scoped_code_memory_sys_override use(protect_failing_at(0));
  void* values[1] = {value(7)};
  ASSERT_THAT(os::patch_pointers(p.slots, values), IsOk());
  EXPECT_EQ(p.slots[0], value(7));
  EXPECT_EQ(protect_calls, 0);
}

TEST(thunk, patch_pointers_refuses_executable_pages) {
  read_only_page p(1, PROT_READ | PROT_EXEC);
  ASSERT_TRUE(p.slots != nullptr);
  void* values[1] = {value(7)};
  EXPECT_THAT(os::patch_pointers(p.slots, values), HasCode(errc::code_memory_failed));
  EXPECT_EQ(p.slots[0], nullptr);
  EXPECT_EQ(access_of(p.slots), os::access_read | os::access_execute);
}

TEST(thunk, patch_pointers_refuses_unmapped_and_misaligned_slots) {
  // Page zero: never mapped (vm.mmap_min_addr), unlike a page just unmapped, which the next
  // allocation may take.
  void** nowhere = static_cast<void**>(value(0x10));
  void* values[1] = {value(7)};
  EXPECT_THAT(os::patch_pointers(nowhere, values), HasCode(errc::code_memory_failed));
  read_only_page p;
  ASSERT_TRUE(p.slots != nullptr);
  void** misaligned = reinterpret_cast<void**>(reinterpret_cast<char*>(p.slots) + 4);
  EXPECT_THAT(os::patch_pointers(misaligned, values), HasCode(errc::code_memory_failed));
  ASSERT_THAT(os::patch_pointers(p.slots, {}), IsOk());  // nothing to write
}

TEST(thunk, patch_pointers_make_writable_failure_changes_nothing) {
  read_only_page p;
  ASSERT_TRUE(p.slots != nullptr);
  void* values[2] = {value(1), value(2)};
  {
    os::scoped_code_memory_sys_override use(protect_failing_at(0));
    auto r = os::patch_pointers(p.slots, values);
    EXPECT_THAT(r, HasCode(errc::code_memory_failed));
    if (!r) {
      EXPECT_EQ(r.error().os_text(), std::string(std::strerror(EACCES)));
    }
  }
  EXPECT_EQ(p.slots[0], nullptr);
  EXPECT_EQ(access_of(p.slots), int{os::access_read});
}

TEST(thunk, patch_pointers_undoes_earlier_pages_when_a_later_one_fails) {
  read_only_page p(2);
  ASSERT_TRUE(p.slots != nullptr);
  const std::size_t per_page = page() / sizeof(void*);
  // r-- then ---: two mappings (equal neighbours would merge into one), so two mprotects.
  ASSERT_TRUE(mprotect(p.slots + per_page, page(), PROT_NONE) == 0);
  void* values[2] = {value(1), value(2)};
  {
    os::scoped_code_memory_sys_override use(protect_failing_at(1));
    EXPECT_THAT(os::patch_pointers(p.slots + per_page - 1, values), HasCode(errc::code_memory_failed));
    EXPECT_EQ(protect_calls, 3);  // first page opened, second refused, first closed again
  }
  EXPECT_EQ(p.slots[per_page - 1], nullptr);
  EXPECT_EQ(access_of(p.slots), int{os::access_read});
  EXPECT_EQ(access_of(p.slots + per_page), int{os::access_none});
}

TEST(thunk, patch_pointers_restore_failure_is_reported) {
  read_only_page p;
  ASSERT_TRUE(p.slots != nullptr);
  void* values[1] = {value(9)};
  {
    os::scoped_code_memory_sys_override use(protect_failing_at(1));
    auto r = os::patch_pointers(p.slots, values);
    EXPECT_THAT(r, HasCode(errc::code_memory_failed));
    if (!r) {
      EXPECT_TRUE(r.error().cause().find("stays writable") != std::string::npos);
    }
  }
  // The value is in place; the page was left writable, as the error said.
  EXPECT_EQ(p.slots[0], value(9));
  EXPECT_EQ(access_of(p.slots), os::access_read | os::access_write);
}

TEST(thunk, patch_pointers_while_other_threads_call_through_the_slot) {
  widget* w = opaque(new widget(10));
  void** vtable = vtable_of(w);
  void* original[1] = {vtable[0]};
  harness h{{code_of(&pure_add)}};
  ASSERT_TRUE(h.ok());
  void* thunk[1] = {const_cast<void*>(h.block->address(0))};
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread caller([&] {
    widget* mine = opaque(new widget(10));
    while (!stop.load(std::memory_order_relaxed)) {
      // The old method gives 2 + 3, the new one 2 * 3 + 10: never anything else.
#if defined(__SANITIZE_THREAD__)
      // A virtual call's slot load is a plain load, racing (by design, on hardware where an
      // aligned pointer load is atomic) with patch_pointers' atomic store; TSan would report
      // it. Here the same slot is read with an atomic load and called the same way.
      void* slot = __atomic_load_n(&vtable_of(mine)[0], __ATOMIC_ACQUIRE);
      long (*add)(widget*, long, long) = nullptr;
      std::memcpy(&add, &slot, sizeof add);
      const long got = add(mine, 2, 3);
#else
      const long got = mine->add(2, 3);
#endif
      if (got != 5 && got != 16) wrong.fetch_add(1);
    }
    delete mine;
  });
  bool patched_ok = true;
  for (int i = 0; i < 200 && patched_ok; ++i) {
    patched_ok = os::patch_pointers(vtable, thunk).has_value() &&
                 os::patch_pointers(vtable, original).has_value();
  }
  stop.store(true);
  caller.join();
  EXPECT_TRUE(patched_ok);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(access_of(vtable), int{os::access_read});
  delete w;
}

}  // namespace livemod::thunk_cases
