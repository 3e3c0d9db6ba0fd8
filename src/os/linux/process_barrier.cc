// process_barrier on Linux: membarrier when the kernel has the private expedited command,
// otherwise an mprotect round-trip on a private page (the kernel must flush that page's TLB
// entries on every CPU running this mm, with an interrupt that orders their memory accesses).
#include "os/process_barrier.h"

#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace livemod::os {
namespace {

long membarrier(int cmd) noexcept { return syscall(__NR_membarrier, cmd, 0U); }

std::atomic<int> chosen{-1};  // -1 undecided, else a barrier_method

barrier_method decide() noexcept {
  int c = chosen.load(std::memory_order_acquire);
  if (c >= 0) return static_cast<barrier_method>(c);
  long supported = membarrier(MEMBARRIER_CMD_QUERY);
  bool expedited = supported >= 0 && (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                   membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  auto m = expedited ? barrier_method::membarrier : barrier_method::tlb_shootdown;
  int expected = -1;
  chosen.compare_exchange_strong(expected, static_cast<int>(m), std::memory_order_acq_rel);
  return static_cast<barrier_method>(chosen.load(std::memory_order_acquire));
}

void tlb_shootdown() noexcept {
  static std::mutex lock;
  static void* page = [] {
    void* p = mmap(nullptr, static_cast<std::size_t>(sysconf(_SC_PAGESIZE)),
                   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();  // no memory for one page: nothing can be made safe
    return p;
  }();
  std::lock_guard hold(lock);
  const auto size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  // Touch the page so it is present in the TLB of this CPU, then revoke write access: the
  // kernel interrupts every CPU that may cache the mapping.
  if (mprotect(page, size, PROT_READ | PROT_WRITE) != 0) std::abort();
  static_cast<volatile char*>(page)[0] = 0;
  if (mprotect(page, size, PROT_READ) != 0) std::abort();
}

}  // namespace

void process_barrier() noexcept {
  if (decide() == barrier_method::membarrier && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
    return;
  tlb_shootdown();
}

barrier_method process_barrier_method() noexcept { return decide(); }

void force_process_barrier_fallback() noexcept {
  chosen.store(static_cast<int>(barrier_method::tlb_shootdown), std::memory_order_release);
}

}  // namespace livemod::os
