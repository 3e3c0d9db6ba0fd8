// File: livemod/crash_guard.h
//
// The crash guard: a call into module code that turns a crash on the calling thread into an
// error returned to that caller, so the host keeps running and can roll the module back or
// restart it. SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT raised by the guarded code are
// caught, and so is a stack overflow (the handler runs on an alternate signal stack). The
// hot-swap engine uses it for a new version's first calls and for an old version's on_unload.
//
//   auto r = livemod::guarded_call([&] { return calculate(20); });
//   if (!r) {   // "libcalc.so: crashed with SIGSEGV (address 0x0 not mapped) in calculate+0x12;
//               //  the call was abandoned and the module's state may be inconsistent: ..."
//     log(r.error().describe()); return rollback();
//   }
//
// Lifetime and threads: a guard covers one call on one thread, for the duration of that call;
// any number of threads may be inside guarded calls at once, into the same module or others,
// and guards nest (the innermost one catches). The first guarded call (or install_crash_guard)
// installs one process-wide handler per signal and remembers the handlers that were there
// before; the first guarded call on a thread gives that thread an alternate signal stack
// (64 KiB and a guard page), freed when the thread exits. A thread that already has an
// alternate stack (the host's, or a sanitizer's) keeps it.
//
// What is caught, and what is passed on: a signal is caught only when the calling thread is
// inside a guarded call and the signal is that thread's own doing: a fault the kernel raised
// for an instruction it ran (si_code > 0), or a signal the process raised at that thread
// (raise, abort, assert, std::terminate; si_code SI_TKILL from this pid). Everything else goes
// to the handler that was installed before the guard, exactly as it would have run without it
// (its flags, its mask; SIG_DFL kills the process with the same signal; SIG_IGN ignores what
// can be ignored): faults on threads outside a guarded call, and signals sent with kill() or
// sigqueue(), even when they land on a guarded thread.
//
// What it cannot protect against (a crash guard is a seat belt, not isolation; livemod's
// isolate layer runs a module in a child process when that is needed):
//   - Corruption that does not fault, or faults later: a module that writes over the heap,
//     another module's data or the host's, crashes (or not) somewhere else, later, maybe in
//     unguarded code. The guard only sees the signal, never the damage before it.
//   - Everything the abandoned call held: the call is cut short with siglongjmp, so no
//     destructor of any frame between the guard and the fault runs. Memory it owned leaks,
//     mutexes it held stay locked (a later lock of one of them deadlocks), files stay open,
//     and the module's own state is whatever it was halfway through the call.
//   - Locks inside libc and the dynamic linker. A fault inside malloc, or one of glibc's heap
//     checks ("double free or corruption") aborting from inside free, may leave malloc's arena
//     lock held; a fault inside a constructor run by dlopen or a destructor run by dlclose or
//     exit() leaves the dynamic linker's lock held. The crashed thread may still go on (those
//     locks are recursive or per arena), but another thread that takes them blocks for ever.
//     Call module code that may crash (on_load, on_unload) outside dlopen/dlclose, and treat
//     a module that crashed inside libc as a reason to restart the process.
//   - Other threads. Only the guarded thread's own signal is caught. A module that started
//     threads of its own, or whose crash a callback on another thread then trips over, takes
//     the process down as if there were no guard; state the module shares with other threads
//     may be mid-update when they read it.
//   - Signals the guard does not handle (SIGTRAP, SIGSYS, SIGPIPE, SIGKILL, timeouts: a call
//     that loops for ever stays in its loop) and exits: a module that calls exit() or _exit()
//     ends the process.
//   - A stack overflow that skips the guard page: a frame larger than the guard region below
//     the stack (4 KiB for a pthread by default) can jump past it into other memory
//     (stack clash). Build modules with -fstack-clash-protection, as distributions do.
//   - A module that changes the signal handlers itself: a handler installed after the guard
//     replaces it unless it chains to the one it replaced (as sanitizers do). Install the
//     host's handlers before the first guarded call, or chain.
//   - pthread_kill or tgkill aimed at a guarded thread from inside the process with one of
//     these signals: it looks exactly like raise() and is taken for a crash of the call.
//
// Sanitizers: under AddressSanitizer the guard needs allow_user_segv_handler=1 (the default in
// GCC 12's runtime); it is installed after ASan's handler and chains to it for faults outside
// guarded calls. ThreadSanitizer intercepts sigsetjmp and siglongjmp and supports the jump.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "livemod/error.h"

namespace livemod {

// How a guarded call saves and restores the thread's signal mask.
enum class guard_mode : unsigned char {
  // sigsetjmp saves the mask on entry and a crash restores exactly that mask. This costs one
  // rt_sigprocmask system call per guarded call (bench/RESULTS.md, "## crash guard").
  exact,
  // No system call on entry: after a crash the handler restores the mask that was in force
  // when the fault happened. The two differ only when the module changed the thread's signal
  // mask itself before it crashed, or when SIGABRT was blocked on entry (abort() unblocks it).
  fast,
};

// What one caught crash looked like, for callers that want more than the message.
struct crash_report {
  int signal = 0;                // SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT
  std::string_view signal_name;  // "SIGSEGV"
  int code = 0;                  // siginfo's si_code (SEGV_MAPERR, FPE_INTDIV, SI_TKILL ...)
  std::uintptr_t address = 0;    // si_addr: the address that faulted (0 for SIGABRT)
  std::uintptr_t pc = 0;         // the instruction that faulted or raised the signal
  bool stack_overflow = false;
  // The module blamed for the crash: the innermost frame of the abandoned call that is not in
  // the C or C++ runtime (so abort() called by a module blames that module, not libc). Its
  // path, and "symbol+0xoffset" (or "+0xoffset" into the file when it has no symbol).
  std::string object;
  std::string symbol;
  // Where the signal was raised, when that is somewhere else (libc's raise for abort()).
  std::string fault_object;
  std::string fault_symbol;
};

struct guard_options {
  guard_mode mode = guard_mode::exact;
  // When set, filled in if the call crashes (left alone otherwise).
  crash_report* report = nullptr;
};

// Installs the process-wide handlers now rather than at the first guarded call: call it after
// the host has installed its own handlers for these signals (which the guard will chain to)
// and before any thread relies on them. Idempotent and thread-safe; a later call does nothing,
// even if the handlers were replaced in between. Errors: guard_unavailable (sigaction failed).
result<void> install_crash_guard() noexcept;

// Calls fn(context) on this thread under a guard. Returns success when fn returns, or:
//   module_crashed: fn crashed with one of the five signals; names the signal, the address,
//     the module and the symbol (crash_report has them as fields);
//   stack_overflow: fn ran out of stack;
//   guard_unavailable: the handlers or this thread's alternate stack could not be set up;
//     fn was not called.
// After a crash this thread can make more calls, guarded or not; see the list above for what
// the abandoned call leaves behind. fn must not throw (guarded_call lets exceptions through),
// and must not end the thread (pthread_exit, cancellation) from inside the guard.
result<void> run_guarded(void (*fn)(void* context), void* context,
                         const guard_options& options = {}) noexcept;

namespace detail {
// run_guarded without building a result<void> or an optional<error> on the way (g++ zeroes
// the whole error storage of both, which was half the cost of an empty guarded call): null
// when fn returned, the error otherwise.
std::unique_ptr<error> guarded_invoke(void (*fn)(void* context), void* context,
                                      const guard_options& options) noexcept;
}  // namespace detail

// The typed face of run_guarded: calls f() under a guard and returns its value, or the error.
// An exception thrown by f is not a crash: it passes through unchanged, after the guard is
// removed. f may not return a reference (return a pointer).
template <class F>
auto guarded_call(F&& f, const guard_options& options = {})
    -> result<std::invoke_result_t<F&>> {
  using value_type = std::invoke_result_t<F&>;
  static_assert(!std::is_reference_v<value_type>, "guarded_call: return a pointer, not a reference");
  struct call_state {
    F* f;
    std::conditional_t<std::is_void_v<value_type>, bool, std::optional<value_type>> value{};
    std::exception_ptr thrown{};
  } state{&f};
  auto trampoline = [](void* context) noexcept {
    auto& s = *static_cast<call_state*>(context);
    try {
      if constexpr (std::is_void_v<value_type>) {
        std::invoke(*s.f);
      } else {
        s.value.emplace(std::invoke(*s.f));
      }
    } catch (...) {
      s.thrown = std::current_exception();
    }
  };
  std::unique_ptr<error> failure = detail::guarded_invoke(trampoline, &state, options);
  if (state.thrown) std::rethrow_exception(state.thrown);
  if (failure) return tl::unexpected<error>(std::move(*failure));
  if constexpr (std::is_void_v<value_type>) {
    return {};
  } else {
    return std::move(*state.value);
  }
}

}  // namespace livemod
