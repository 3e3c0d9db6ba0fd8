// File: livemod/rcu.h
//
// livemod's read-copy-update: readers enter and leave read-side sections with plain loads and
// stores to their own thread's word; a writer publishes a new pointer, then synchronize()
// returns once no thread can still be inside a section that began before the publish.
//
//   { livemod::rcu::read_guard g;                        // wait-free, nests
//     const table* t = __atomic_load_n(&current, __ATOMIC_CONSUME); use(*t); }
//   old = current; __atomic_store_n(&current, fresh, __ATOMIC_RELEASE);
//   livemod::rcu::synchronize();                          // writers only; blocks
//   delete old;
//
// How: an epoch counter. Each thread has one word: the epoch it read on entering its outermost
// section in the high bits, how deep it is nested in the low bits. Entering an outermost
// section copies the global word (the epoch, nesting 1) into the thread's; leaving a section
// stores back the word it found on entry (read_unlock, which has no record of it, decrements).
// synchronize() advances the epoch, runs a process-wide barrier (membarrier: it turns every
// reader's compiler barrier into a full fence, so readers pay no fence), and waits for every
// thread that is nested in a section entered at an older epoch. This is the scheme of liburcu's
// memb flavour without the parity flip (a 48-bit epoch does not wrap: 89 years at 100,000 grace
// periods a second), the futex wake-up check and the has-membarrier test on every entry and
// exit, which made liburcu's inlined read side cost 1.84x a raw call here (bench/RESULTS.md).
// An outermost entry is one load of the thread's word, one test, one load of the global word
// and one store; an exit is one store. A thread not yet registered has a bit set in its nesting
// field, so the same test sends its first entry to the out-of-line path that registers it.
//
// Lifetime and threads: a thread registers itself on its first section and unregisters when
// it exits. A section must not call synchronize() (it would wait for itself) and must not
// outlast its thread. Sections nest up to 32,767 deep. synchronize() may be called from any
// thread outside a section, by several at once.
#pragma once

#include <cstdint>

namespace livemod::rcu {

namespace detail {
// The layout of a reader's word and of the global one.
inline constexpr unsigned k_nesting_bits = 16;
inline constexpr std::uint64_t k_nesting_mask = (std::uint64_t{1} << k_nesting_bits) - 1;
// In a thread's nesting field until it registers (and again once it has unregistered).
inline constexpr std::uint64_t k_unregistered = std::uint64_t{1} << (k_nesting_bits - 1);
inline constexpr std::uint64_t k_depth_mask = k_unregistered - 1;
inline constexpr std::uint64_t k_epoch_one = std::uint64_t{1} << k_nesting_bits;

// One per thread, in its own cache line so no reader writes a line another thread writes.
struct alignas(64) reader {
  std::uint64_t word;  // epoch << k_nesting_bits | nesting (| k_unregistered)
};
extern __thread reader this_reader;
// The current epoch with a nesting of 1: what an outermost entry stores.
extern std::uint64_t global_word;
// Entries that are not outermost, or a thread's first: out of line. Returns what leave()
// stores back.
std::uint64_t enter_slow(std::uint64_t word) noexcept;
}  // namespace detail

namespace detail {
// Enters a section and returns what leave() stores back: the exit is one store, with no load
// of the word.
inline std::uint64_t enter() noexcept {
  reader& r = this_reader;
  const std::uint64_t before = __atomic_load_n(&r.word, __ATOMIC_RELAXED);
  if (__builtin_expect((before & k_nesting_mask) != 0, 0)) return enter_slow(before);
  __atomic_store_n(&r.word, __atomic_load_n(&global_word, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
  // A compiler barrier only: synchronize()'s process-wide barrier orders this store before the
  // section's loads on the CPU (see the header comment).
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  // Outermost: the thread was registered and outside, and leaves the same way (0). A constant,
  // not `before`, and one the compiler cannot take from `before` (which it knows is 0 here):
  // storing the loaded value back would chain each section's exit store to the previous one's
  // through the load, a store-to-load forwarding on every call of a loop of calls.
  std::uint64_t outside;
#if defined(__x86_64__)
  __asm__("xorl %k0, %k0" : "=r"(outside));
#elif defined(__aarch64__)
  __asm__("mov %0, xzr" : "=r"(outside));
#else
  outside = 0;
#endif
  return outside;
}

// Leaves the section enter() returned `before` for; sections end in the reverse order.
inline void leave(std::uint64_t before) noexcept {
  // Released: the section's accesses come first. Outermost, `before` is 0: nesting 0, and a
  // writer looks at the epoch only while the nesting is non-zero.
  __atomic_store_n(&this_reader.word, before, __ATOMIC_RELEASE);
}
}  // namespace detail

inline void read_lock() noexcept { (void)detail::enter(); }

inline void read_unlock() noexcept {
  detail::reader& r = detail::this_reader;
  // Only this thread writes its word: a plain decrement, released so the section's accesses
  // come first.
  __atomic_store_n(&r.word, __atomic_load_n(&r.word, __ATOMIC_RELAXED) - 1, __ATOMIC_RELEASE);
}

// Whether this thread is inside a section.
inline bool in_read_section() noexcept {
  return (detail::this_reader.word & detail::k_depth_mask) != 0;
}

// Waits until every section that began before the call has ended. Callers outside a section.
void synchronize() noexcept;

class read_guard {
 public:
  read_guard() noexcept : before_(detail::enter()) {}
  ~read_guard() { detail::leave(before_); }
  read_guard(const read_guard&) = delete;
  read_guard& operator=(const read_guard&) = delete;

 private:
  std::uint64_t before_;
};

}  // namespace livemod::rcu
