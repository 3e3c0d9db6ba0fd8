// The crash guard's seam (livemod/crash_guard.h is its public face): the two system calls a
// thread's first guarded call makes to get an alternate signal stack, as a table a test can
// replace to make them fail, in the manner of dl_api.h.
//
//   livemod::os::crash_guard_sys_api fake = livemod::os::current_crash_guard_sys_api();
//   fake.map_stack = [](std::size_t) -> void* { errno = ENOMEM; return nullptr; };
//   livemod::os::scoped_crash_guard_sys_override use(fake);
//   // a thread that has not made a guarded call yet now gets guard_unavailable
//
// Threads: the table is process-wide; override it only while no other thread makes its first
// guarded call.
#pragma once

#include <cstddef>

namespace livemod::os {

struct crash_guard_sys_api {
  // Maps `bytes` of read-write memory for an alternate signal stack; nullptr with errno set on
  // failure. The guard adds a PROT_NONE page below what it asks for.
  void* (*map_stack)(std::size_t bytes);
  // Undoes map_stack (when the thread exits, or when the stack could not be installed).
  void (*unmap_stack)(void* base, std::size_t bytes);
  // sigaltstack(2) with SS_ONSTACK off: makes [base, base + bytes) this thread's alternate
  // signal stack. Returns 0, or -1 with errno set.
  int (*set_alternate_stack)(void* base, std::size_t bytes);
};

const crash_guard_sys_api& current_crash_guard_sys_api() noexcept;

class scoped_crash_guard_sys_override {
 public:
  explicit scoped_crash_guard_sys_override(const crash_guard_sys_api& replacement) noexcept;
  ~scoped_crash_guard_sys_override();
  scoped_crash_guard_sys_override(const scoped_crash_guard_sys_override&) = delete;
  scoped_crash_guard_sys_override& operator=(const scoped_crash_guard_sys_override&) = delete;

 private:
  crash_guard_sys_api previous_;
};

// This thread's alternate signal stack as the guard sees it, for tests: `owned` when the guard
// made it (and will unmap it when the thread exits); base is nullptr when there is none.
struct alternate_stack_info {
  void* base = nullptr;
  std::size_t size = 0;
  bool owned = false;
};
alternate_stack_info current_alternate_stack() noexcept;

}  // namespace livemod::os
