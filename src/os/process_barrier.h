// A process-wide memory barrier: when it returns, every thread of the process has executed a
// full memory barrier at some point between the call and the return. It lets readers on a hot
// path use only compiler barriers (asymmetric fences: the rare writer pays, as liburcu's memb
// flavour and folly's asymmetricHeavyBarrier do).
//
//   livemod::os::process_barrier();   // e.g. between publishing a pointer and scanning readers
//
// Linux: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), registered once; where the kernel lacks
// it (before 4.14, or a seccomp policy refusing it), an mprotect of a private page, whose TLB
// shootdown interrupts every CPU that runs the process. Threads: callable from any thread.
#pragma once

namespace livemod::os {

enum class barrier_method { membarrier, tlb_shootdown };

void process_barrier() noexcept;
// Which method this process uses (decided on the first call).
barrier_method process_barrier_method() noexcept;
// Tests only: use the fallback from now on, as a kernel without membarrier would.
void force_process_barrier_fallback() noexcept;

}  // namespace livemod::os
