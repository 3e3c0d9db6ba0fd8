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
// How: an epoch counter. Entering a section copies the global epoch into the thread's word;
// leaving stores 0 (release). synchronize() advances the epoch, runs a process-wide barrier
// (membarrier: it turns every reader's compiler barrier into a full fence, so readers pay no
// fence), and waits for every thread whose word holds an older non-zero epoch. This is the
// scheme of liburcu's memb flavour without the parity flip (a 64-bit epoch never wraps), the
// nesting word, the futex wake-up check and the has-membarrier test on every entry and exit,
// which made liburcu's inlined read side cost 1.84x a raw call here (bench/RESULTS.md).
//
// Lifetime and threads: a thread registers itself on its first section and unregisters when
// it exits. A section must not call synchronize() (it would wait for itself) and must not
// outlast its thread. synchronize() may be called from any thread outside a section, by
// several at once.
#pragma once

#include <cstdint>

namespace livemod::rcu {

namespace detail {
// One per thread, in its own cache line so no reader writes a line another thread writes.
struct alignas(64) reader {
  std::uint64_t epoch;     // 0 outside a section, else the epoch read on entry
  std::uint32_t nesting;   // sections entered and not left
  bool registered;
};
extern __thread reader this_reader;
extern std::uint64_t global_epoch;
void register_reader() noexcept;  // the thread's first section: out of line
}  // namespace detail

inline void read_lock() noexcept {
  detail::reader& r = detail::this_reader;
  if (__builtin_expect(r.nesting++ != 0, 0)) return;
  if (__builtin_expect(!r.registered, 0)) detail::register_reader();
  __atomic_store_n(&r.epoch, __atomic_load_n(&detail::global_epoch, __ATOMIC_ACQUIRE),
                   __ATOMIC_RELAXED);
  // A compiler barrier only: synchronize()'s process-wide barrier orders this store before the
  // section's loads on the CPU (see the header comment).
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

inline void read_unlock() noexcept {
  detail::reader& r = detail::this_reader;
  if (__builtin_expect(--r.nesting != 0, 0)) return;
  __atomic_store_n(&r.epoch, 0, __ATOMIC_RELEASE);  // the section's accesses come first
}

// Whether this thread is inside a section.
inline bool in_read_section() noexcept { return detail::this_reader.nesting != 0; }

// Waits until every section that began before the call has ended. Callers outside a section.
void synchronize() noexcept;

class read_guard {
 public:
  read_guard() noexcept { read_lock(); }
  ~read_guard() { read_unlock(); }
  read_guard(const read_guard&) = delete;
  read_guard& operator=(const read_guard&) = delete;
};

}  // namespace livemod::rcu
