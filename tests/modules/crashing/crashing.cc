// The crashing fixture: one exported function per signal the crash guard catches, each written
// so the compiler can neither fold the crash away nor turn it into something else.
#include <livemod/sdk/module.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

// Not instrumented by any sanitizer (see CMakeLists.txt), not inlined into a caller (the tests
// expect each crash to be reported in the function named after it), exported.
#define CRASHING_FN \
  extern "C" LIVEMOD_EXPORT __attribute__((noinline, no_sanitize("address", "undefined", "thread")))

extern "C" LIVEMOD_EXPORT int crash_none(int x) { return 2 * x + 1; }

CRASHING_FN int crash_null_deref(int x) {
  // volatile: the read happens, at address 0, whatever the optimiser knows about null.
  int* volatile pointer = nullptr;
  return *pointer + x;
}

CRASHING_FN int crash_divide_by_zero(int x) {
  // Integer division: x86 raises #DE (SIGFPE); AArch64's sdiv returns 0 and raises nothing.
  // Both operands volatile, so nothing is folded.
  volatile int numerator = x;
  volatile int zero = 0;
  return numerator / zero;
}

CRASHING_FN void crash_illegal_instruction() {
  // An instruction defined to be undefined. __builtin_trap would be SIGTRAP on AArch64.
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile("ud2");
#elif defined(__aarch64__)
  __asm__ volatile(".inst 0x00000000");  // udf #0
#else
#error "crash_illegal_instruction: add this architecture's undefined instruction"
#endif
}

CRASHING_FN void crash_abort() { std::abort(); }

namespace {

// A page of a memfd mapped, then the file cut to nothing: touching the page is past the end of
// the file, which the kernel reports as SIGBUS (BUS_ADRERR). Made once and kept, so a test that
// crashes here in a loop leaks nothing per call. nullptr if the setup failed.
volatile int* beyond_end_of_file() {
  static volatile int* const page = []() -> volatile int* {
    const long page_size = sysconf(_SC_PAGESIZE);
    const int fd = memfd_create("livemod-crashing-sigbus", MFD_CLOEXEC);
    if (fd < 0) return nullptr;
    void* mapping = MAP_FAILED;
    if (ftruncate(fd, page_size) == 0) {
      mapping = mmap(nullptr, static_cast<size_t>(page_size), PROT_READ | PROT_WRITE, MAP_SHARED,
                     fd, 0);
    }
    const bool cut = mapping != MAP_FAILED && ftruncate(fd, 0) == 0;
    close(fd);
    return cut ? static_cast<volatile int*>(mapping) : nullptr;
  }();
  return page;
}

}  // namespace

// Returns -1 (without crashing) only if the memfd could not be set up.
CRASHING_FN int crash_bus_error() {
  volatile int* page = beyond_end_of_file();
  if (page == nullptr) return -1;
  return *page;
}

// Each frame holds 256 bytes it really uses, much less than a guard page, so the recursion
// walks into the guard page rather than over it; the result is used after the call, so it is
// not a tail call the compiler could turn into a loop.
CRASHING_FN int crash_stack_overflow(int depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  frame[255] = static_cast<char>(depth >> 8);
  return crash_stack_overflow(depth + 1) + frame[0] + frame[255];
}

// A call through a NULL function pointer: the fault is at pc 0, in no object at all.
CRASHING_FN int crash_call_null() {
  int (*volatile function)() = nullptr;
  return function() + 1;
}
