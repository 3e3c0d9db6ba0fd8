// The writer side of livemod::rcu: the list of reader threads and synchronize().
#include "livemod/rcu.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "os/process_barrier.h"

namespace livemod::rcu {
namespace detail {

__thread reader this_reader = {0, 0, false};
// Written only by synchronize(); alone in its cache line so readers' loads stay shared.
alignas(64) std::uint64_t global_epoch = 1;

namespace {

std::mutex& readers_lock() {
  static std::mutex m;
  return m;
}
std::vector<reader*>& readers() {
  static std::vector<reader*> r;
  return r;
}

// Unregisters the thread when it exits. Built on the thread's first section.
struct registration {
  registration() {
    std::lock_guard hold(readers_lock());
    readers().push_back(&this_reader);
    this_reader.registered = true;
  }
  ~registration() {
    std::lock_guard hold(readers_lock());
    auto& r = readers();
    r.erase(std::remove(r.begin(), r.end(), &this_reader), r.end());
    this_reader.registered = false;
  }
};

}  // namespace

void register_reader() noexcept {
  // A thread_local with a destructor: constructed here, on the thread's first section.
  thread_local registration r;
  (void)r;
}

}  // namespace detail

void synchronize() noexcept {
  using namespace detail;
  const std::uint64_t target = __atomic_add_fetch(&global_epoch, 1, __ATOMIC_SEQ_CST);
  // Every reader CPU now runs a full barrier: a reader whose epoch store we might miss in the
  // scan below has not yet loaded the pointer published before this call.
  os::process_barrier();
  // Readers are held in the list for the scan: a thread exiting meanwhile waits for the lock,
  // so its reader word stays valid while we read it.
  std::lock_guard hold(readers_lock());
  for (reader* r : readers()) {
    for (unsigned spins = 0;; ++spins) {
      std::uint64_t e = __atomic_load_n(&r->epoch, __ATOMIC_ACQUIRE);
      if (e == 0 || e >= target) break;  // outside, or entered after the new epoch: sees the new pointer
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
