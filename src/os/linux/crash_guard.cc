// The crash guard (livemod/crash_guard.h) on Linux: the only file that works with <signal.h>
// and <setjmp.h>.
//
// How a guarded call works. run_guarded saves a jump buffer on its own frame (sigsetjmp, or in
// fast mode __builtin_setjmp: k_inline_jump) and pushes a guard_frame onto a per-thread chain;
// one process-wide handler per signal looks at the chain of the thread the signal arrived on.
// When the signal is that thread's own doing and a guard is active, the handler records what it
// can without calling anything unsafe (the siginfo, the registers, the return addresses of the
// abandoned frames), pops the frame and jumps to it. The message (dladdr, demangling, strings)
// is built after the jump, on the thread's ordinary stack, where allocating is allowed again.
// Any other signal goes to the handler that was installed before ours, run as the kernel would
// have run it.
//
// The handler runs on an alternate signal stack (SA_ONSTACK), so it still has a stack when the
// guarded code has used all of its own; and with SA_NODEFER, so a fault inside the handler
// itself (the unwinder walking a smashed stack) comes back to the handler, which then jumps
// at once with what it has, instead of the kernel killing the process for a blocked fault.
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <unwind.h>

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "livemod/crash_guard.h"
#include "os/crash_guard.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace livemod {
namespace os {
namespace {

std::size_t page_size() noexcept { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// A guard page below the stack: a handler that overruns its stack faults (and the kernel,
// unable to deliver that fault anywhere, ends the process) instead of writing over whatever
// mapping lies below.
void* map_stack_with_guard_page(std::size_t bytes) {
  const std::size_t page = page_size();
  void* mapping = mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mapping == MAP_FAILED) return nullptr;
  if (mprotect(mapping, page, PROT_NONE) != 0) {
    const int saved = errno;
    munmap(mapping, bytes + page);
    errno = saved;
    return nullptr;
  }
  return static_cast<char*>(mapping) + page;
}

void unmap_stack_with_guard_page(void* base, std::size_t bytes) {
  const std::size_t page = page_size();
  munmap(static_cast<char*>(base) - page, bytes + page);
}

int set_alternate_stack(void* base, std::size_t bytes) {
  stack_t stack{};
  stack.ss_sp = base;
  stack.ss_size = bytes;
  stack.ss_flags = 0;
  return sigaltstack(&stack, nullptr);
}

constinit crash_guard_sys_api current_sys{&map_stack_with_guard_page, &unmap_stack_with_guard_page,
                                          &set_alternate_stack};

}  // namespace

const crash_guard_sys_api& current_crash_guard_sys_api() noexcept { return current_sys; }

scoped_crash_guard_sys_override::scoped_crash_guard_sys_override(
    const crash_guard_sys_api& replacement) noexcept
    : previous_(current_sys) {
  current_sys = replacement;
}

scoped_crash_guard_sys_override::~scoped_crash_guard_sys_override() { current_sys = previous_; }

}  // namespace os

namespace {

constexpr int k_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr std::size_t k_signal_count = std::size(k_signals);

// Return addresses kept per crash: enough to get from libc's raise, through abort and a
// runtime or two, back to the module that called them.
constexpr int k_max_frames = 32;
// Frames the unwinder may walk before it reaches the faulting one (the handler's own, a
// sanitizer's wrapper, the kernel's signal trampoline).
constexpr int k_max_handler_frames = 32;
// A fault this close to the stack pointer is the stack running out: nothing else lies there.
constexpr std::uintptr_t k_overflow_reach = 64 * 1024;
// The kernel keeps a gap of 256 pages below a growing main-thread stack.
constexpr std::uintptr_t k_stack_gap = 1024 * 1024;

// What the handler saw; written in the handler, read after the jump on the same thread.
struct crash_record {
  int signal;
  int code;
  std::uintptr_t address;
  std::uintptr_t pc;
  std::uintptr_t sp;
  // The caller's address when pc is in no object (a call through a null pointer): the word at
  // the stack pointer on x86-64, the link register on AArch64.
  std::uintptr_t caller_guess;
  bool stack_overflow;
  sigset_t mask;  // the mask in force where the signal hit
  int frame_count;
  std::uintptr_t frames[k_max_frames];  // frames[0] is pc when the unwinder reached it
};

// Fast mode's jump buffer is __builtin_setjmp's: the frame and stack pointers and the resume
// address, saved inline. glibc's sigsetjmp is a call through the PLT into libc; in a new
// version's first guarded calls, made with that code cold, it cost the caller 100-300 ns
// (bench/RESULTS.md, "## hot swap"). Under AddressSanitizer and ThreadSanitizer, whose
// siglongjmp interceptors clean up the abandoned frames, sigsetjmp is kept.
#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
constexpr bool k_inline_jump = true;
#else
constexpr bool k_inline_jump = false;
#endif

struct guard_frame {
  sigjmp_buf env;          // exact mode (and fast mode without k_inline_jump)
  void* inline_env[5];     // fast mode with k_inline_jump
  bool inline_jump;        // which of the two the handler jumps to
  guard_frame* outer;
  volatile sig_atomic_t capturing;
  crash_record record;
};

// Everything the handler reads about a thread. Initial-exec TLS: reading it is a plain load
// from the thread pointer, never a call to __tls_get_addr (which may allocate, and is not
// async-signal-safe). Trivial and zero-initialised, so there is no TLS init wrapper either.
struct thread_state {
  guard_frame* top;
  std::uintptr_t stack_low;  // lowest address of this thread's stack, its guard included; 0 if unknown
  std::uintptr_t stack_guard;
  bool ready;
};
__attribute__((tls_model("initial-exec"))) thread_local thread_state tls_state;

// The alternate stack the guard made for this thread, unmapped when the thread exits. Kept
// apart from thread_state because it has a destructor (and so a TLS wrapper).
struct alternate_stack_owner {
  void* base = nullptr;
  std::size_t size = 0;
  os::crash_guard_sys_api sys{};

  alternate_stack_owner() = default;
  alternate_stack_owner(const alternate_stack_owner&) = delete;
  alternate_stack_owner& operator=(const alternate_stack_owner&) = delete;
  ~alternate_stack_owner() {
    if (base == nullptr) return;
    // Turn the stack off before unmapping it, unless someone has since put their own in place.
    stack_t current{};
    if (sigaltstack(nullptr, &current) == 0 && current.ss_sp == base) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      sigaltstack(&off, nullptr);
    }
    sys.unmap_stack(base, size);
    base = nullptr;
    // `ready` stays set: a thread_local destructor that runs after this one may still make a
    // guarded call, which then works without an alternate stack (all but a stack overflow is
    // still caught) rather than touching this destroyed object to make another.
  }
};
thread_local alternate_stack_owner owned_stack;

// The handlers that were installed before ours, to chain to. Written once, under
// install_mutex, before g_installed is set; read by the handler.
struct chained_action {
  struct sigaction previous;
  // previous had SA_RESETHAND and has run once: from now on it is SIG_DFL, as the kernel would
  // have made it. Our handler stays installed for the guarded threads.
  std::atomic<bool> reset;
};
chained_action g_chain[k_signal_count];
std::atomic<bool> g_installed{false};
std::mutex g_install_mutex;

std::size_t index_of(int sig) noexcept {
  for (std::size_t i = 0; i < k_signal_count; ++i) {
    if (k_signals[i] == sig) return i;
  }
  return 0;  // not reached: the handler is installed for these five only
}

std::uintptr_t as_address(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }

std::uintptr_t pc_of(const ucontext_t* uc) noexcept {
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#else
  (void)uc;
  return 0;
#endif
}

std::uintptr_t sp_of(const ucontext_t* uc) noexcept {
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.sp);
#else
  (void)uc;
  return 0;
#endif
}

// Is this signal the thread's own doing, so a guard on this thread may take it? A fault the
// kernel raised for the instruction this thread ran (si_code > 0), or a signal this process
// sent to this thread (raise, abort, pthread_kill: SI_TKILL with our pid). A signal sent with
// kill() or sigqueue(), from here or from another process, is meant for the process: chained.
// BUS_MCEERR_AO is the kernel's asynchronous report of memory failing somewhere: chained.
bool raised_by_this_thread(int sig, const siginfo_t* info) noexcept {
  if (info == nullptr) return false;
  if (info->si_code > 0) return sig != SIGABRT && !(sig == SIGBUS && info->si_code == BUS_MCEERR_AO);
  return info->si_code == SI_TKILL && info->si_pid == getpid();
}

bool looks_like_overflow(std::uintptr_t address, std::uintptr_t sp,
                         const thread_state& ts) noexcept {
  if (ts.stack_low != 0) {
    const std::uintptr_t guard_end = ts.stack_low + std::max<std::uintptr_t>(ts.stack_guard, 4096) + 4096;
    const std::uintptr_t gap_start = ts.stack_low > k_stack_gap ? ts.stack_low - k_stack_gap : 0;
    if (address >= gap_start && address < guard_end) return true;
  }
  return sp != 0 && address + k_overflow_reach >= sp && address <= sp + 4096;
}

struct unwind_walk {
  crash_record* record;
  std::uintptr_t guard_frame_address;  // frames at or above it are the guard's callers
  int seen;
  bool reached_fault;
};

// Collects the return addresses of the abandoned frames, from the faulting one up to the one
// that called run_guarded. libgcc's unwinder finds unwind tables with _dl_find_object (glibc
// 2.35+), which takes no lock and is async-signal-safe; it steps over the kernel's signal
// frame by recognising the sigreturn trampoline.
_Unwind_Reason_Code collect_frame(_Unwind_Context* context, void* argument) {
  auto& walk = *static_cast<unwind_walk*>(argument);
  if (++walk.seen > k_max_handler_frames + k_max_frames) return _URC_END_OF_STACK;
  int before_instruction = 0;
  const auto ip = static_cast<std::uintptr_t>(_Unwind_GetIPInfo(context, &before_instruction));
  if (!walk.reached_fault) {
    // Skip the handler's frames, a sanitizer's, and the trampoline, up to the signal frame.
    if (ip != walk.record->pc || before_instruction == 0) {
      return walk.seen > k_max_handler_frames ? _URC_END_OF_STACK : _URC_NO_REASON;
    }
    walk.reached_fault = true;
  } else if (static_cast<std::uintptr_t>(_Unwind_GetCFA(context)) >= walk.guard_frame_address) {
    return _URC_END_OF_STACK;  // run_guarded's own frame: the guarded call ends here
  }
  crash_record& record = *walk.record;
  record.frames[record.frame_count] = ip;
  ++record.frame_count;
  return record.frame_count == k_max_frames ? _URC_END_OF_STACK : _URC_NO_REASON;
}

_Unwind_Reason_Code ignore_frame(_Unwind_Context*, void*) { return _URC_NO_REASON; }

// In the handler: only loads, stores and the unwinder. A second fault in here re-enters the
// handler, which sees `capturing` and jumps with what was recorded so far; so frame_count is
// raised only after the frame it counts is stored.
void capture(guard_frame& frame, int sig, const siginfo_t* info, const void* context,
             const thread_state& ts) noexcept {
  crash_record& record = frame.record;
  const auto* uc = static_cast<const ucontext_t*>(context);
  record.frame_count = 0;
  record.signal = sig;
  record.code = info->si_code;
  // si_addr shares its storage with si_pid/si_uid: it means something only for a kernel fault.
  record.address = info->si_code > 0 ? as_address(info->si_addr) : 0;
  record.pc = pc_of(uc);
  record.sp = sp_of(uc);
  record.caller_guess = 0;
  record.mask = uc->uc_sigmask;
  record.stack_overflow =
      sig == SIGSEGV && info->si_code > 0 && looks_like_overflow(record.address, record.sp, ts);
  unwind_walk walk{&record, as_address(&frame), 0, false};
  _Unwind_Backtrace(&collect_frame, &walk);
  // Last, as it may fault: the stack pointer may point into the guard page.
#if defined(__x86_64__)
  if (record.frame_count <= 1 && record.sp != 0 && !record.stack_overflow) {
    record.caller_guess = *reinterpret_cast<const volatile std::uintptr_t*>(record.sp);
  }
#elif defined(__aarch64__)
  record.caller_guess = static_cast<std::uintptr_t>(uc->uc_mcontext.regs[30]);
#endif
}

// Runs the handler that was there before ours as the kernel would have: with its flags and
// its mask, or the default action.
void chain(int sig, siginfo_t* info, void* context) noexcept {
  chained_action& chained = g_chain[index_of(sig)];
  const struct sigaction& previous = chained.previous;
  const bool has_siginfo = (previous.sa_flags & SA_SIGINFO) != 0;
  const bool was_reset = chained.reset.load(std::memory_order_relaxed);
  const bool is_default = was_reset || (!has_siginfo && previous.sa_handler == SIG_DFL);
  const bool is_ignored = !was_reset && !has_siginfo && previous.sa_handler == SIG_IGN;
  // A fault returns to the instruction that faulted and faults again: returning hands it back
  // to the kernel with the same siginfo. BUS_MCEERR_AO does not recur.
  const bool recurs = info != nullptr && info->si_code > 0 &&
                      !(sig == SIGBUS && info->si_code == BUS_MCEERR_AO);
  if (is_ignored && !recurs) return;  // the kernel would have discarded it
  if (is_default || is_ignored) {
    // The default action of all five is to end the process with a core dump; the kernel does
    // the same for a fault whose signal is ignored. Let it: restore the default, then return
    // to the faulting instruction, or raise again what was sent (unblocked: SA_NODEFER).
    struct sigaction default_action{};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    sigaction(sig, &default_action, nullptr);
    if (!recurs) raise(sig);
    return;
  }
  if ((previous.sa_flags & SA_RESETHAND) != 0) chained.reset.store(true, std::memory_order_relaxed);
  // The mask the kernel would have set: the interrupted code's, plus the handler's sa_mask,
  // plus the signal itself unless SA_NODEFER.
  sigset_t mask = static_cast<const ucontext_t*>(context)->uc_sigmask;
  sigset_t with_handler_mask;
  sigorset(&with_handler_mask, &mask, &previous.sa_mask);
  if ((previous.sa_flags & SA_NODEFER) == 0) sigaddset(&with_handler_mask, sig);
  sigset_t ours;
  pthread_sigmask(SIG_SETMASK, &with_handler_mask, &ours);
  if (has_siginfo) {
    previous.sa_sigaction(sig, info, context);
  } else {
    previous.sa_handler(sig);
  }
  pthread_sigmask(SIG_SETMASK, &ours, nullptr);
}

void on_signal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  thread_state& ts = tls_state;
  guard_frame* frame = ts.top;
  if (frame != nullptr && raised_by_this_thread(sig, info)) {
    if (frame->capturing == 0) {
      frame->capturing = 1;
      capture(*frame, sig, info, context, ts);
    }
    // Popped before the jump: a fault between here and run_guarded's return goes outward.
    ts.top = frame->outer;
    if (frame->inline_jump) __builtin_longjmp(frame->inline_env, 1);
    siglongjmp(frame->env, 1);
  }
  chain(sig, info, context);
  errno = saved_errno;
}

std::string_view signal_name(int sig) noexcept {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "signal";
  }
}

std::string hex(std::uintptr_t value) {
  char text[2 + 2 * sizeof value + 1];
  std::snprintf(text, sizeof text, "0x%jx", static_cast<std::uintmax_t>(value));
  return text;
}

// "(address 0x0 not mapped)": what si_code says, in words.
std::string signal_detail(const crash_record& record) {
  // A signal the thread sent itself (raise, pthread_kill: si_code SI_TKILL) has no faulting
  // address, and "invalid access at 0x0" would send the reader looking for a null pointer.
  if (record.code <= 0 && record.signal != SIGABRT)
    return "sent by the thread itself with raise or kill, not by a faulting instruction";
  const std::string at = hex(record.address);
  switch (record.signal) {
    case SIGSEGV:
      if (record.code == SEGV_MAPERR) return "address " + at + " not mapped";
      if (record.code == SEGV_ACCERR) return "no permission to access " + at;
      return "invalid access at " + at;
    case SIGBUS:
      if (record.code == BUS_ADRERR) return "address " + at + " has no backing, e.g. past the end of a mapped file";
      if (record.code == BUS_ADRALN) return "misaligned address " + at;
      return "bus error at " + at;
    case SIGFPE:
      if (record.code == FPE_INTDIV) return "integer divide by zero";
      if (record.code == FPE_INTOVF) return "integer overflow";
      return "arithmetic fault";
    case SIGILL:
      return "illegal instruction at " + at;
    case SIGABRT:
      return "abort";
    default:
      return "";
  }
}

struct frame_place {
  std::string object;  // the file, "" when the address is in no object
  std::string symbol;  // "name+0x12" or "+0x1234" into the file, "" when in no object
};

// `lookup` is the address to look up: a return address minus one, so a call that is the last
// instruction of a function is not taken for the next function.
frame_place place_of(std::uintptr_t address, std::uintptr_t lookup) {
  Dl_info info{};
  frame_place place;
  if (dladdr(reinterpret_cast<void*>(lookup), &info) == 0 || info.dli_fname == nullptr) return place;
  place.object = info.dli_fname;
  if (info.dli_sname != nullptr && info.dli_saddr != nullptr) {
    int status = -1;
    std::unique_ptr<char, decltype(&std::free)> demangled(
        abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status), &std::free);
    place.symbol = status == 0 && demangled ? demangled.get() : info.dli_sname;
    place.symbol += "+" + hex(address - as_address(info.dli_saddr));
  } else if (info.dli_fbase != nullptr) {
    place.symbol = "+" + hex(address - as_address(info.dli_fbase));
  }
  return place;
}

// The C and C++ runtimes (and the sanitizers'): a crash raised in one of them is blamed on the
// module that called it.
bool is_runtime(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  for (std::string_view prefix : {"libc.so", "libc-", "ld-linux", "ld64.so", "libstdc++.so",
                                  "libgcc_s.so", "libm.so", "libpthread.so", "libasan.so",
                                  "libtsan.so", "libubsan.so", "liblsan.so"}) {
    if (name.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

error crash_error(const crash_record& record, crash_report* report) {
  // The frames, innermost first: what the unwinder found, or at least the faulting pc, and a
  // guess at the caller when the pc is in no object at all.
  std::uintptr_t frames[k_max_frames + 1];
  int count = 0;
  if (record.frame_count > 0) {
    count = std::min(record.frame_count, k_max_frames);
    std::copy(record.frames, record.frames + count, frames);
  } else {
    frames[count++] = record.pc;
  }
  frame_place fault = place_of(frames[0], frames[0]);
  if (fault.object.empty() && count == 1 && record.caller_guess != 0) {
    frames[count++] = record.caller_guess;
  }
  frame_place blamed = fault;
  for (int i = 0; i < count; ++i) {
    frame_place place = i == 0 ? fault : place_of(frames[i], frames[i] - 1);
    if (!place.object.empty() && !is_runtime(place.object)) {
      blamed = std::move(place);
      break;
    }
  }
  const bool elsewhere = !fault.object.empty() && fault.object != blamed.object;

  std::string cause;
  if (record.stack_overflow) {
    cause = "overflowed its stack (SIGSEGV at " + hex(record.address) + ")";
  } else {
    cause = "crashed with " + std::string(signal_name(record.signal)) + " (" + signal_detail(record) + ")";
  }
  if (!blamed.symbol.empty() && blamed.symbol.front() == '+') {
    cause += " at offset " + blamed.symbol.substr(1);
  } else if (!blamed.symbol.empty()) {
    cause += " in " + blamed.symbol;
  } else if (blamed.object.empty()) {
    cause += " at " + hex(record.pc) + ", outside any loaded object";
  }
  if (elsewhere) {
    cause += ", raised in " + fault.object;
    if (!fault.symbol.empty()) cause += " at " + fault.symbol;
  }
  std::string remedy = "the call was abandoned and the module's state may be inconsistent; roll back or restart it";
  if (record.stack_overflow) remedy += ", or give the calling thread a larger stack";

  if (report != nullptr) {
    report->signal = record.signal;
    report->signal_name = signal_name(record.signal);
    report->code = record.code;
    report->address = record.address;
    report->pc = record.pc;
    report->stack_overflow = record.stack_overflow;
    report->object = blamed.object;
    report->symbol = blamed.symbol;
    report->fault_object = elsewhere ? fault.object : std::string();
    report->fault_symbol = elsewhere ? fault.symbol : std::string();
  }
  return error(record.stack_overflow ? errc::stack_overflow : errc::module_crashed,
               std::move(blamed.object), std::move(cause), std::move(remedy));
}

// Back on the thread's own stack after the jump. Noinline and cold: none of this belongs on
// the path of a call that returns.
__attribute__((noinline, cold)) error after_crash(guard_frame& frame, const guard_options& options) {
  const crash_record& record = frame.record;
  if (options.mode == guard_mode::fast) {
    // The jump did not restore the mask: put back the one the faulting code ran with (the
    // handler may have run with more blocked, under a sanitizer's wrapper).
    pthread_sigmask(SIG_SETMASK, &record.mask, nullptr);
  }
#if defined(__SANITIZE_ADDRESS__)
  // The abandoned frames' redzones are still poisoned; a later non-instrumented use of that
  // stack (a libc call writing a buffer there) would be reported as an overflow.
  const std::uintptr_t low = record.sp > 256 ? record.sp - 256 : 0;
  const std::uintptr_t high = as_address(&frame);
  if (low != 0 && low < high && high - low < (std::uintptr_t{1} << 30)) {
    __asan_unpoison_memory_region(reinterpret_cast<void*>(low), high - low);
  }
#endif
  return crash_error(record, options.report);
}

std::string errno_text(int value) {
  char buffer[256];
  // The GNU strerror_r returns the text, which may or may not be in `buffer`.
  return strerror_r(value, buffer, sizeof buffer);
}

// Bounds of this thread's stack, for telling a stack overflow from another fault.
void find_stack_bounds(thread_state& ts) {
  pthread_attr_t attributes;
  if (pthread_getattr_np(pthread_self(), &attributes) != 0) return;
  void* low = nullptr;
  std::size_t size = 0;
  std::size_t guard = 0;
  if (pthread_attr_getstack(&attributes, &low, &size) == 0) ts.stack_low = as_address(low);
  if (pthread_attr_getguardsize(&attributes, &guard) == 0) ts.stack_guard = guard;
  pthread_attr_destroy(&attributes);
}

std::size_t alternate_stack_bytes() {
  std::size_t bytes = 64 * 1024;
#if defined(_SC_MINSIGSTKSZ)
  // glibc 2.34+: SIGSTKSZ is no longer a constant; the kernel says what a signal frame needs
  // (large with AVX-512 or SME state).
  const long minimum = sysconf(_SC_MINSIGSTKSZ);
  if (minimum > 0) bytes = std::max(bytes, 4 * static_cast<std::size_t>(minimum));
#endif
  const std::size_t page = os::page_size();
  return (bytes + page - 1) / page * page;
}

// The first guarded call on a thread: the process's handlers, the stack bounds, and an
// alternate signal stack unless the thread has one already.
result<void> prepare_thread() {
  if (auto installed = install_crash_guard(); !installed) return installed;
  thread_state& ts = tls_state;
  find_stack_bounds(ts);
  stack_t current{};
  if (sigaltstack(nullptr, &current) != 0) {
    const int saved = errno;
    return fail(error(errc::guard_unavailable, "", "cannot read this thread's alternate signal stack",
                      "calls cannot be guarded on this thread")
                    .with_os_text(errno_text(saved)));
  }
  if ((current.ss_flags & SS_DISABLE) != 0) {
    const os::crash_guard_sys_api& sys = os::current_crash_guard_sys_api();
    const std::size_t bytes = alternate_stack_bytes();
    void* base = sys.map_stack(bytes);
    if (base == nullptr) {
      const int saved = errno;
      return fail(error(errc::guard_unavailable, "",
                        "cannot map " + std::to_string(bytes) +
                            " bytes for this thread's alternate signal stack",
                        "free memory, or raise the process's map count limit")
                      .with_os_text(errno_text(saved)));
    }
    if (sys.set_alternate_stack(base, bytes) != 0) {
      const int saved = errno;
      sys.unmap_stack(base, bytes);
      return fail(error(errc::guard_unavailable, "",
                        "cannot install this thread's alternate signal stack (sigaltstack)",
                        "calls cannot be guarded on this thread")
                      .with_os_text(errno_text(saved)));
    }
    owned_stack.base = base;
    owned_stack.size = bytes;
    owned_stack.sys = sys;
  }
  ts.ready = true;
  return {};
}

}  // namespace

namespace os {

alternate_stack_info current_alternate_stack() noexcept {
  stack_t current{};
  if (sigaltstack(nullptr, &current) != 0 || (current.ss_flags & SS_DISABLE) != 0) return {};
  return {current.ss_sp, current.ss_size, owned_stack.base != nullptr && current.ss_sp == owned_stack.base};
}

}  // namespace os

result<void> install_crash_guard() noexcept {
  if (g_installed.load(std::memory_order_acquire)) return {};
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (g_installed.load(std::memory_order_relaxed)) return {};
  // The unwinder's first use initialises tables (and may load libgcc_s): do it here, not in a
  // signal handler.
  _Unwind_Backtrace(&ignore_frame, nullptr);

  struct sigaction ours{};
  ours.sa_sigaction = &on_signal;
  ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&ours.sa_mask);
  for (std::size_t i = 0; i < k_signal_count; ++i) {
    // Read the previous action before replacing it, so the handler never sees it half written:
    // sigaction's oldact is copied out only after the new action is in place.
    chained_action& chained = g_chain[i];
    struct sigaction replaced{};
    int status = sigaction(k_signals[i], nullptr, &chained.previous);
    if (status == 0) status = sigaction(k_signals[i], &ours, &replaced);
    if (status != 0) {
      const int saved = errno;
      for (std::size_t j = 0; j < i; ++j) sigaction(k_signals[j], &g_chain[j].previous, nullptr);
      return fail(error(errc::guard_unavailable, "",
                        "cannot install the crash guard's handler for " +
                            std::string(signal_name(k_signals[i])),
                        "calls cannot be guarded in this process")
                      .with_os_text(errno_text(saved)));
    }
    // The same action, unless another thread changed it in between: then that one is chained.
    if (std::memcmp(&replaced, &chained.previous, sizeof replaced) != 0) chained.previous = replaced;
  }
  g_installed.store(true, std::memory_order_release);
  return {};
}

namespace {

// The first guarded call on this thread, out of line so the common path stays small.
__attribute__((noinline)) std::unique_ptr<error> prepare_this_thread() {
  auto prepared = prepare_thread();
  if (prepared) return nullptr;
  return std::make_unique<error>(std::move(prepared.error()));
}

__attribute__((noinline, cold)) std::unique_ptr<error> crashed(guard_frame& frame,
                                                             const guard_options& options) {
  return std::make_unique<error>(after_crash(frame, options));
}

}  // namespace

result<void> run_guarded(void (*fn)(void* context), void* context,
                         const guard_options& options) noexcept {
  std::unique_ptr<error> failure = detail::guarded_invoke(fn, context, options);
  if (!failure) return {};
  return fail(std::move(*failure));
}

std::unique_ptr<error> detail::guarded_invoke(void (*fn)(void* context), void* context,
                                              const guard_options& options) noexcept {
  thread_state& ts = tls_state;
  if (!ts.ready) {
    if (auto failure = prepare_this_thread()) return failure;
  }
  guard_frame frame;
  frame.outer = ts.top;
  frame.capturing = 0;
  // Saving the mask costs a system call; fast mode restores it from the handler's record.
  frame.inline_jump = k_inline_jump && options.mode == guard_mode::fast;
  if (frame.inline_jump) {
    if (__builtin_setjmp(frame.inline_env) != 0) return crashed(frame, options);
  } else if (sigsetjmp(frame.env, options.mode == guard_mode::exact ? 1 : 0) != 0) {
    return crashed(frame, options);
  }
  // Published only once the jump buffer is complete; the fences keep the compiler from moving
  // the stores across the call (the handler is the only other reader, on this thread).
  ts.top = &frame;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  fn(context);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  ts.top = frame.outer;
  return nullptr;
}

}  // namespace livemod
