// The writer side of livemod::rcu: the list of reader threads and synchronize().
#include "livemod/rcu.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "os/process_barrier.h"

namespace livemod::rcu {
namespace detail {

__thread reader this_reader = {k_unregistered};
// Written only by synchronize(); alone in its cache line so readers' loads stay shared.
alignas(64) std::uint64_t global_word = k_epoch_one | 1;

namespace {

std::mutex& readers_lock() {
  static std::mutex m;
  return m;
}
std::vector<reader*>& readers() {
  static std::vector<reader*> r;
  return r;
}

// Set once the thread's registration is gone (its thread_locals are being destroyed): a
// section after that must not try to register again.
__thread bool registration_over = false;

// Unregisters the thread when it exits. Built on the thread's first section.
struct registration {
  registration() {
    std::lock_guard hold(readers_lock());
    __atomic_store_n(&this_reader.word, 0, __ATOMIC_RELAXED);  // registered, outside
    readers().push_back(&this_reader);
  }
  ~registration() {
    std::lock_guard hold(readers_lock());
    auto& r = readers();
    r.erase(std::remove(r.begin(), r.end(), &this_reader), r.end());
    // Sections after this one (in later thread_local destructors) go through enter_slow and
    // are only counted: no writer sees this word any more.
    __atomic_store_n(&this_reader.word, (this_reader.word & k_depth_mask) | k_unregistered,
                     __ATOMIC_RELAXED);
    registration_over = true;
  }
};

}  // namespace

std::uint64_t enter_slow(std::uint64_t word) noexcept {
  reader& r = this_reader;
  if ((word & k_nesting_mask) == k_unregistered && !registration_over) {
    // The thread's first section. A thread_local with a destructor: it unregisters the thread
    // when it exits. Listed with nesting 0 (outside), then entered as enter() does; leaving
    // restores that registered, outside word.
    thread_local registration reg;
    (void)reg;
    __atomic_store_n(&r.word, __atomic_load_n(&global_word, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
    return 0;
  }
  // Nested: the word keeps the epoch of the outermost entry, which is when the section began.
  if ((word & k_depth_mask) == k_depth_mask) std::abort();  // deeper than the field counts
  __atomic_store_n(&r.word, word + 1, __ATOMIC_RELAXED);
  return word;
}

}  // namespace detail

void synchronize() noexcept {
  using namespace detail;
  const std::uint64_t target =
      __atomic_add_fetch(&global_word, k_epoch_one, __ATOMIC_SEQ_CST) >> k_nesting_bits;
  // Every reader CPU now runs a full barrier: a reader whose entry store we might miss in the
  // scan below has not yet loaded the pointer published before this call.
  os::process_barrier();
  // Readers are held in the list for the scan: a thread exiting meanwhile waits for the lock,
  // so its reader word stays valid while we read it.
  std::lock_guard hold(readers_lock());
  for (reader* r : readers()) {
    for (unsigned spins = 0;; ++spins) {
      const std::uint64_t w = __atomic_load_n(&r->word, __ATOMIC_ACQUIRE);
      // Outside, or entered after the new epoch: sees the new pointer.
      if ((w & k_depth_mask) == 0 || (w >> k_nesting_bits) >= target) break;
      // Sections are short (a call): spin first, then give the CPU away, then sleep, so a
      // reader holding a long scope costs the writer little.
      if (spins < 128) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
      } else if (spins < 1024) {
        sched_yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }
}

}  // namespace livemod::rcu
