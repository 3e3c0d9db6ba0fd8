// The crash guard (livemod/crash_guard.h): each signal becomes the right error naming the
// module; the thread goes on after a crash; guards nest; many threads crash at once while
// others work; and what the guard does not catch reaches the host's handler or kills the
// process as it would have without the guard. Tests that need a process whose handlers were
// set up in a given order are death tests in the "threadsafe" style: the child re-executes
// this binary and runs only that test, so it starts with no guard installed.
#include "livemod/crash_guard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "livemod/library.h"
#include "os/crash_guard.h"
#include "testing/matchers.h"

#if defined(__SANITIZE_THREAD__)
// The death tests end the process from a signal handler, in the middle of whatever the threads
// were doing: TSan then calls a thread whose exit it had not finished recording "leaked".
// Leaks are not races; every race is still reported.
extern "C" const char* __tsan_default_options() { return "report_thread_leaks=0"; }
#endif

namespace livemod {
namespace {

using testing::AllOf;
using testing::HasSubstr;
using testing::StartsWith;
using testing_support::HasCode;
using testing_support::HasCodeAndMessage;
using testing_support::IsOk;

constexpr const char* k_crashing_path = LIVEMOD_FIXTURE_CRASHING;
constexpr const char* k_fine_path = LIVEMOD_FIXTURE_CRASHING_FINE;
// Set by the AArch64 build, which runs under qemu-user (cmake/LivemodAarch64Tests.cmake).
#if defined(LIVEMOD_TEST_UNDER_EMULATOR)
constexpr bool k_under_emulator = true;
#else
constexpr bool k_under_emulator = false;
#endif
// x86 traps an integer division by zero (#DE, SIGFPE); AArch64's sdiv returns 0 instead, so
// there crash_divide_by_zero returns 0 and no instruction raises SIGFPE.
#if defined(__aarch64__)
constexpr bool k_division_by_zero_traps = false;
#else
constexpr bool k_division_by_zero_traps = true;
#endif

// The two fixture modules, opened once per process and kept open.
struct fixture_modules {
  library crashing_lib;
  library fine_lib;
  int (*none)(int) = nullptr;
  int (*null_deref)(int) = nullptr;
  int (*divide_by_zero)(int) = nullptr;
  void (*illegal_instruction)() = nullptr;
  void (*abort_now)() = nullptr;
  int (*bus_error)() = nullptr;
  int (*stack_overflow)(int) = nullptr;
  int (*call_null)() = nullptr;
  int (*fine_add)(int, int) = nullptr;
  int (*fine_apply)(int (*)(int), int) = nullptr;
};

template <class T>
T* must_find(const library& lib, const char* name) {
  auto found = lib.symbol<T>(name);
  if (!found) {
    ADD_FAILURE() << found.error().describe();
    std::abort();
  }
  return *found;
}

const fixture_modules& modules() {
  static const fixture_modules loaded = [] {
    fixture_modules m;
    auto crashing = library::open(k_crashing_path);
    auto fine = library::open(k_fine_path);
    if (!crashing || !fine) {
      ADD_FAILURE() << (!crashing ? crashing.error().describe() : fine.error().describe());
      std::abort();
    }
    m.crashing_lib = std::move(*crashing);
    m.fine_lib = std::move(*fine);
    m.none = must_find<int(int)>(m.crashing_lib, "crash_none");
    m.null_deref = must_find<int(int)>(m.crashing_lib, "crash_null_deref");
    m.divide_by_zero = must_find<int(int)>(m.crashing_lib, "crash_divide_by_zero");
    m.illegal_instruction = must_find<void()>(m.crashing_lib, "crash_illegal_instruction");
    m.abort_now = must_find<void()>(m.crashing_lib, "crash_abort");
    m.bus_error = must_find<int()>(m.crashing_lib, "crash_bus_error");
    m.stack_overflow = must_find<int(int)>(m.crashing_lib, "crash_stack_overflow");
    m.call_null = must_find<int()>(m.crashing_lib, "crash_call_null");
    m.fine_add = must_find<int(int, int)>(m.fine_lib, "fine_add");
    m.fine_apply = must_find<int(int (*)(int), int)>(m.fine_lib, "fine_apply");
    return m;
  }();
  return loaded;
}

// A SIGFPE on this thread: the module's division by zero where that traps, else raised here.
int sigfpe(const fixture_modules& m, int x) {
  if (k_division_by_zero_traps) return m.divide_by_zero(x);
  return raise(SIGFPE);
}

sigset_t current_mask() {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return mask;
}

bool same_mask(const sigset_t& a, const sigset_t& b) {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&a, sig) != sigismember(&b, sig)) return false;
  }
  return true;
}

// Runs `body` on a new thread with a stack of `stack_bytes` and waits for it.
template <class F>
void on_thread_with_stack(std::size_t stack_bytes, F body) {
  pthread_attr_t attributes;
  ASSERT_EQ(0, pthread_attr_init(&attributes));
  ASSERT_EQ(0, pthread_attr_setstacksize(&attributes, stack_bytes));
  pthread_t thread;
  auto start = [](void* argument) -> void* {
    (*static_cast<F*>(argument))();
    return nullptr;
  };
  ASSERT_EQ(0, pthread_create(&thread, &attributes, start, &body));
  pthread_attr_destroy(&attributes);
  ASSERT_EQ(0, pthread_join(thread, nullptr));
}

// --- what a crash becomes -------------------------------------------------------------------

TEST(CrashGuard, ReturnsWhatACallThatDoesNotCrashReturns) {
  const auto& m = modules();
  EXPECT_EQ(guarded_call([&] { return m.none(20); }), 41);
  int calls = 0;
  EXPECT_THAT(guarded_call([&] { ++calls; }), IsOk());
  EXPECT_EQ(calls, 1);
  auto text = guarded_call([] { return std::string("moved out"); }, {guard_mode::fast});
  ASSERT_THAT(text, IsOk());
  EXPECT_EQ(*text, "moved out");
}

TEST(CrashGuard, NullDereferenceIsSigsegvNamingModuleAndFunction) {
  const auto& m = modules();
  crash_report report;
  auto r = guarded_call([&] { return m.null_deref(1); }, {guard_mode::exact, &report});
  EXPECT_THAT(r, HasCodeAndMessage(errc::module_crashed,
                                   AllOf(StartsWith(std::string(k_crashing_path) + ": crashed with SIGSEGV"),
                                         HasSubstr("(address 0x0 not mapped) in crash_null_deref+0x"),
                                         HasSubstr("the call was abandoned"))));
  EXPECT_EQ(report.signal, SIGSEGV);
  EXPECT_EQ(report.signal_name, "SIGSEGV");
  EXPECT_EQ(report.code, SEGV_MAPERR);
  EXPECT_EQ(report.address, 0u);
  EXPECT_FALSE(report.stack_overflow);
  EXPECT_EQ(report.object, k_crashing_path);
  EXPECT_THAT(report.symbol, StartsWith("crash_null_deref+0x"));
  EXPECT_EQ(report.fault_object, "");  // the fault is in the blamed module itself
  if (r) return;
  EXPECT_EQ(r.error().file(), k_crashing_path);
}

TEST(CrashGuard, ASignalTheCodeSendsItselfIsNotCalledAFaultingAccess) {
  // As the hot-swap demo's v3 does: std::raise(SIGSEGV) in module code.
  crash_report report;
  auto r = guarded_call([] { ::raise(SIGSEGV); }, {guard_mode::exact, &report});
  EXPECT_THAT(r, HasCodeAndMessage(errc::module_crashed,
                                   AllOf(HasSubstr("SIGSEGV (sent by the thread itself"),
                                         ::testing::Not(HasSubstr("access")))));
  EXPECT_EQ(report.signal, SIGSEGV);
  EXPECT_EQ(report.code, SI_TKILL);
  EXPECT_EQ(report.address, 0u);
}

TEST(CrashGuard, IntegerDivisionByZeroIsSigfpe) {
  const auto& m = modules();
  if (!k_division_by_zero_traps) {
    EXPECT_EQ(guarded_call([&] { return m.divide_by_zero(7); }), 0);
    GTEST_SKIP() << "no integer division traps on this machine: the call returned 0";
  }
  crash_report report;
  EXPECT_THAT(guarded_call([&] { return m.divide_by_zero(7); }, {guard_mode::exact, &report}),
              HasCodeAndMessage(errc::module_crashed,
                                AllOf(StartsWith(k_crashing_path),
                                      HasSubstr("SIGFPE (integer divide by zero) in crash_divide_by_zero+0x"))));
  EXPECT_EQ(report.signal, SIGFPE);
  EXPECT_EQ(report.code, FPE_INTDIV);
}

TEST(CrashGuard, IllegalInstructionIsSigill) {
  const auto& m = modules();
  crash_report report;
  EXPECT_THAT(guarded_call([&] { m.illegal_instruction(); }, {guard_mode::exact, &report}),
              HasCodeAndMessage(errc::module_crashed,
                                AllOf(StartsWith(k_crashing_path), HasSubstr("SIGILL (illegal instruction at 0x"),
                                      HasSubstr("in crash_illegal_instruction+0x"))));
  EXPECT_EQ(report.signal, SIGILL);
  EXPECT_EQ(report.object, k_crashing_path);
  EXPECT_EQ(report.address, report.pc);  // SIGILL's si_addr is the instruction
}

TEST(CrashGuard, AbortBlamesTheModuleThatCalledItNotLibc) {
  const auto& m = modules();
  crash_report report;
  EXPECT_THAT(guarded_call([&] { m.abort_now(); }, {guard_mode::exact, &report}),
              HasCodeAndMessage(errc::module_crashed,
                                AllOf(StartsWith(std::string(k_crashing_path) + ": crashed with SIGABRT (abort) in crash_abort+0x"),
                                      HasSubstr(", raised in "), HasSubstr("libc.so"))));
  EXPECT_EQ(report.signal, SIGABRT);
  EXPECT_EQ(report.code, SI_TKILL);
  EXPECT_EQ(report.object, k_crashing_path);
  EXPECT_THAT(report.fault_object, HasSubstr("libc.so"));
  // abort() resets nothing that a second abort would trip over: it is caught again.
  EXPECT_THAT(guarded_call([&] { m.abort_now(); }), HasCode(errc::module_crashed));
}

TEST(CrashGuard, ReadPastTheEndOfAMappedFileIsSigbus) {
  const auto& m = modules();
  crash_report report;
  auto r = guarded_call([&] { return m.bus_error(); }, {guard_mode::exact, &report});
  if (r && *r == -1) GTEST_SKIP() << "memfd_create or mmap failed in the fixture: no SIGBUS to catch";
  EXPECT_THAT(r, HasCodeAndMessage(errc::module_crashed,
                                   AllOf(StartsWith(k_crashing_path), HasSubstr("SIGBUS (address 0x"),
                                         HasSubstr("in crash_bus_error+0x"))));
  EXPECT_EQ(report.signal, SIGBUS);
  EXPECT_EQ(report.code, BUS_ADRERR);
  EXPECT_NE(report.address, 0u);
}

TEST(CrashGuard, CallThroughANullPointerBlamesTheCaller) {
  const auto& m = modules();
  crash_report report;
  EXPECT_THAT(guarded_call([&] { return m.call_null(); }, {guard_mode::exact, &report}),
              HasCodeAndMessage(errc::module_crashed, AllOf(StartsWith(k_crashing_path), HasSubstr("SIGSEGV"))));
  EXPECT_EQ(report.pc, 0u);
  EXPECT_EQ(report.object, k_crashing_path);
  EXPECT_THAT(report.symbol, StartsWith("crash_call_null+0x"));
}

TEST(CrashGuard, BlamesTheModuleWhoseCodeFaultedNotTheOneThatCalledIt) {
  const auto& m = modules();
  EXPECT_EQ(guarded_call([&] { return m.fine_apply(m.none, 3); }), 8);
  crash_report report;
  EXPECT_THAT(guarded_call([&] { return m.fine_apply(m.null_deref, 3); }, {guard_mode::exact, &report}),
              HasCodeAndMessage(errc::module_crashed, StartsWith(std::string(k_crashing_path) + ": ")));
  EXPECT_EQ(report.object, k_crashing_path);
  EXPECT_THAT(report.symbol, StartsWith("crash_null_deref+0x"));
}

TEST(CrashGuard, FastModeCatchesEverySignalAndRestoresTheMask) {
  const auto& m = modules();
  sigset_t with_usr1 = current_mask();
  sigaddset(&with_usr1, SIGUSR1);
  sigset_t before;
  ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, &with_usr1, &before));
  const guard_options fast{guard_mode::fast};
  EXPECT_THAT(guarded_call([&] { return m.null_deref(0); }, fast), HasCodeAndMessage(errc::module_crashed, HasSubstr("SIGSEGV")));
  EXPECT_THAT(guarded_call([&] { return sigfpe(m, 1); }, fast), HasCodeAndMessage(errc::module_crashed, HasSubstr("SIGFPE")));
  EXPECT_THAT(guarded_call([&] { m.illegal_instruction(); }, fast), HasCodeAndMessage(errc::module_crashed, HasSubstr("SIGILL")));
  EXPECT_THAT(guarded_call([&] { m.abort_now(); }, fast), HasCodeAndMessage(errc::module_crashed, HasSubstr("SIGABRT")));
  EXPECT_TRUE(same_mask(current_mask(), with_usr1)) << "fast mode left a different signal mask";
  EXPECT_EQ(guarded_call([&] { return m.none(1); }, fast), 3);
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

TEST(CrashGuard, ExactModeRestoresTheMaskOfEntryEvenIfTheModuleChangedIt) {
  sigset_t entry = current_mask();
  auto r = guarded_call([] {
    sigset_t more;
    sigemptyset(&more);
    sigaddset(&more, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &more, nullptr);  // the "module" blocks a signal, then crashes
    return modules().null_deref(0);
  });
  EXPECT_THAT(r, HasCode(errc::module_crashed));
  EXPECT_TRUE(same_mask(current_mask(), entry)) << "SIGUSR2 still blocked after the jump";
}

// --- after a crash --------------------------------------------------------------------------

TEST(CrashGuard, AfterACrashTheThreadGoesOnGuardedAndUnguarded) {
  const auto& m = modules();
  const sigset_t entry = current_mask();
  for (int round = 0; round < 50; ++round) {
    ASSERT_THAT(guarded_call([&] { return m.null_deref(round); }), HasCode(errc::module_crashed));
    ASSERT_EQ(guarded_call([&] { return m.none(round); }), 2 * round + 1);
    ASSERT_EQ(m.none(round), 2 * round + 1);  // unguarded
  }
  EXPECT_TRUE(same_mask(current_mask(), entry));
  // The unguarded thread still allocates and formats: no lock of libc's was left held.
  std::string text = std::to_string(12345) + std::string(1000, 'x');
  EXPECT_EQ(text.size(), 1005u);
}

TEST(CrashGuard, StackOverflowOnAThreadIsAnErrorAndTheThreadGoesOn) {
  const auto& m = modules();
  on_thread_with_stack(512 * 1024, [&] {
    for (int round = 0; round < 3; ++round) {
      crash_report report;
      EXPECT_THAT(guarded_call([&] { return m.stack_overflow(0); }, {guard_mode::fast, &report}),
                  HasCodeAndMessage(errc::stack_overflow,
                                    AllOf(StartsWith(std::string(k_crashing_path) + ": overflowed its stack"),
                                          HasSubstr("in crash_stack_overflow+0x"), HasSubstr("larger stack"))));
      EXPECT_TRUE(report.stack_overflow);
      EXPECT_EQ(report.signal, SIGSEGV);
      EXPECT_EQ(guarded_call([&] { return m.none(round); }), 2 * round + 1);
      EXPECT_THAT(guarded_call([&] { return m.null_deref(0); }),
                  HasCodeAndMessage(errc::module_crashed, HasSubstr("address 0x0")));
    }
  });
}

TEST(CrashGuard, StackOverflowOnTheMainThread) {
  const auto& m = modules();
  EXPECT_THAT(guarded_call([&] { return m.stack_overflow(0); }), HasCode(errc::stack_overflow));
  EXPECT_EQ(guarded_call([&] { return m.none(2); }), 5);
}

// --- nesting and exceptions -----------------------------------------------------------------

TEST(CrashGuard, NestedGuardsTheInnermostCatches) {
  const auto& m = modules();
  auto outer = guarded_call([&] {
    auto inner = guarded_call([&] { return m.null_deref(0); });
    EXPECT_THAT(inner, HasCode(errc::module_crashed));
    auto inner_fast = guarded_call([&] { return sigfpe(m, 3); }, {guard_mode::fast});
    EXPECT_THAT(inner_fast, HasCodeAndMessage(errc::module_crashed, HasSubstr("SIGFPE")));
    return m.none(10);  // the outer call goes on after its inner ones crashed
  });
  EXPECT_EQ(outer, 21);

  // After an inner guard returned normally, a crash in the outer body is the outer guard's.
  int inner_value = 0;
  auto outer_crash = guarded_call([&] {
    inner_value = guarded_call([&] { return m.none(1); }).value_or(-1);
    return m.null_deref(0);
  });
  EXPECT_EQ(inner_value, 3);
  EXPECT_THAT(outer_crash, HasCode(errc::module_crashed));
}

TEST(CrashGuard, AnExceptionPassesThroughAndRemovesTheGuard) {
  EXPECT_THROW((void)guarded_call([]() -> int { throw std::runtime_error("not a crash"); }),
               std::runtime_error);
  // If the thrown-through guard were still on the chain, this crash would jump into its dead
  // frame; the outer guard must catch it.
  auto outer = guarded_call([&] {
    try {
      (void)guarded_call([]() -> int { throw std::runtime_error("inner"); });
    } catch (const std::runtime_error&) {
    }
    return modules().null_deref(0);
  });
  EXPECT_THAT(outer, HasCode(errc::module_crashed));
}

// --- threads --------------------------------------------------------------------------------

TEST(CrashGuard, FourThreadsCrashInALoopWhileTwoWorkUnguarded) {
  const auto& m = modules();
  constexpr int k_rounds = 150;
  std::atomic<int> crashes_caught{0};
  std::atomic<int> wrong{0};
  std::atomic<bool> crashers_done{false};
  std::vector<std::thread> crashers;
  for (int t = 0; t < 4; ++t) {
    crashers.emplace_back([&, t] {
      for (int i = 0; i < k_rounds; ++i) {
        const guard_options options{(i + t) % 2 == 0 ? guard_mode::exact : guard_mode::fast};
        crash_report report;
        guard_options with_report = options;
        with_report.report = &report;
        result<int> r = fail(errc::io_error, "", "not run");
        int expected_signal = 0;
        int expected_value = 2 * i + 2;
        switch ((i + t) % 5) {
          case 0: r = guarded_call([&] { return m.null_deref(i); }, with_report); expected_signal = SIGSEGV; break;
          case 1:
            r = guarded_call([&] { return m.divide_by_zero(i); }, with_report);
            expected_signal = k_division_by_zero_traps ? SIGFPE : 0;
            expected_value = 0;
            break;
          case 2: r = guarded_call([&] { m.illegal_instruction(); return 0; }, with_report); expected_signal = SIGILL; break;
          case 3: r = guarded_call([&] { m.abort_now(); return 0; }, with_report); expected_signal = SIGABRT; break;
          default: r = guarded_call([&] { return m.fine_apply(m.none, i); }, with_report); break;
        }
        if (expected_signal == 0) {
          if (!r || *r != expected_value) wrong.fetch_add(1);
        } else if (r || r.error().code() != errc::module_crashed || report.signal != expected_signal ||
                   report.object != k_crashing_path) {
          wrong.fetch_add(1);
        } else {
          crashes_caught.fetch_add(1);
        }
      }
    });
  }
  std::atomic<long> work_done{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&] {
      long iterations = 0;
      while (!crashers_done.load() || iterations < 1000) {
        const int x = static_cast<int>(iterations % 1000);
        if (m.none(x) != 2 * x + 1 || m.fine_add(x, 1) != x + 1) wrong.fetch_add(1);
        std::string s = std::to_string(x);  // allocates: malloc must not be left locked
        if (std::stoi(s) != x) wrong.fetch_add(1);
        ++iterations;
      }
      work_done.fetch_add(iterations);
    });
  }
  for (auto& t : crashers) t.join();
  crashers_done.store(true);
  for (auto& t : workers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // Four of the five kinds crash (three where a division by zero does not trap).
  EXPECT_EQ(crashes_caught.load(), 4 * k_rounds * (k_division_by_zero_traps ? 4 : 3) / 5);
  EXPECT_GE(work_done.load(), 2000);
}

TEST(CrashGuard, TheAlternateStackIsFreedWhenTheThreadExits) {
  // Whether the address is mapped afterwards proves nothing (any later mmap may reuse it), so
  // the unmapping itself is observed through the seam, then done for real.
  static std::atomic<std::uintptr_t> unmapped_base{0};
  static std::atomic<std::size_t> unmapped_bytes{0};
  static void (*real_unmap)(void*, std::size_t) = nullptr;
  os::crash_guard_sys_api observing = os::current_crash_guard_sys_api();
  real_unmap = observing.unmap_stack;
  observing.unmap_stack = [](void* base, std::size_t bytes) {
    unmapped_base = reinterpret_cast<std::uintptr_t>(base);
    unmapped_bytes = bytes;
    real_unmap(base, bytes);
  };
  os::scoped_crash_guard_sys_override use(observing);

  os::alternate_stack_info seen;
  std::thread([&] {
    EXPECT_EQ(guarded_call([] { return modules().none(0); }), 1);
    seen = os::current_alternate_stack();
  }).join();
  ASSERT_NE(seen.base, nullptr) << "a thread that made a guarded call has an alternate stack";
  if (!seen.owned) GTEST_SKIP() << "the thread's alternate stack is a sanitizer's, not the guard's";
  EXPECT_GE(seen.size, 64u * 1024);
  const auto stack_begin = reinterpret_cast<std::uintptr_t>(seen.base);
  ASSERT_NE(unmapped_bytes.load(), 0u) << "nothing was unmapped when the thread exited";
  EXPECT_LE(unmapped_base.load(), stack_begin);
  EXPECT_GE(unmapped_base.load() + unmapped_bytes.load(), stack_begin + seen.size);
}

TEST(CrashGuard, WhenNoAlternateStackCanBeMadeTheCallIsNotMade) {
  std::thread([] {
    if (os::current_alternate_stack().base != nullptr) {
      GTEST_SKIP() << "this runtime gives every thread an alternate stack; the guard maps none";
    }
    os::crash_guard_sys_api failing = os::current_crash_guard_sys_api();
    failing.map_stack = [](std::size_t) -> void* {
      errno = ENOMEM;
      return nullptr;
    };
    bool called = false;
    {
      os::scoped_crash_guard_sys_override use(failing);
      EXPECT_THAT(guarded_call([&] { called = true; }),
                  HasCodeAndMessage(errc::guard_unavailable, HasSubstr("alternate signal stack")));
    }
    EXPECT_FALSE(called);
    // Once the system lets it, the same thread is set up on its next guarded call.
    EXPECT_EQ(guarded_call([] { return modules().none(4); }), 9);
  }).join();
}

// --- what the guard passes on: death tests in a fresh process --------------------------------

class CrashGuardDeathTest : public testing::Test {
 protected:
  // Under qemu-user (the AArch64 build) the child cannot execute the binary again: no
  // binfmt_misc entry runs AArch64 executables here. It forks instead; no other thread is
  // running when these tests start.
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, k_under_emulator ? "fast" : "threadsafe");
  }
};

void install_handler(int sig, void (*handler)(int), int flags = 0) {
  struct sigaction action{};
  action.sa_handler = handler;
  action.sa_flags = flags;
  sigemptyset(&action.sa_mask);
  if (sigaction(sig, &action, nullptr) != 0) _exit(90);
}

// A guarded crash must still be caught in the child, with the host's handler in place.
void expect_guarded_crash_caught() {
  if (guarded_call([] { return modules().null_deref(0); }).has_value()) _exit(91);
}

TEST_F(CrashGuardDeathTest, HostHandlerInstalledBeforeTheGuardRunsForAFaultOutsideIt) {
  EXPECT_EXIT(
      {
        install_handler(SIGSEGV, [](int) { _exit(42); });
        if (!install_crash_guard()) _exit(92);
        expect_guarded_crash_caught();
        modules().null_deref(0);  // unguarded
        _exit(93);
      },
      testing::ExitedWithCode(42), "");
}

TEST_F(CrashGuardDeathTest, HostSiginfoHandlerGetsTheFaultsSiginfo) {
  EXPECT_EXIT(
      {
        struct sigaction action{};
        action.sa_sigaction = [](int sig, siginfo_t* info, void*) {
          _exit(sig == SIGSEGV && info->si_code == SEGV_MAPERR && info->si_addr == nullptr ? 43 : 44);
        };
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        sigaction(SIGSEGV, &action, nullptr);
        expect_guarded_crash_caught();  // installs the guard on first use
        modules().null_deref(0);
        _exit(93);
      },
      testing::ExitedWithCode(43), "");
}

TEST_F(CrashGuardDeathTest, DefaultActionOutsideAGuardStillKillsWithTheSignal) {
  EXPECT_EXIT(
      {
        install_handler(SIGSEGV, SIG_DFL);  // under ASan, its handler would be the previous one
        expect_guarded_crash_caught();
        modules().null_deref(0);
        _exit(93);
      },
      testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(
      {
        install_handler(SIGFPE, SIG_DFL);
        expect_guarded_crash_caught();
        sigfpe(modules(), 1);
        _exit(93);
      },
      testing::KilledBySignal(SIGFPE), "");
  EXPECT_EXIT(
      {
        install_handler(SIGABRT, SIG_DFL);
        expect_guarded_crash_caught();
        modules().abort_now();
        _exit(93);
      },
      testing::KilledBySignal(SIGABRT), "");
}

TEST_F(CrashGuardDeathTest, AnIgnoredFaultStillKillsAsTheKernelWould) {
  EXPECT_EXIT(
      {
        install_handler(SIGSEGV, SIG_IGN);
        expect_guarded_crash_caught();
        modules().null_deref(0);
        _exit(93);
      },
      testing::KilledBySignal(SIGSEGV), "");
}

TEST_F(CrashGuardDeathTest, OneShotHostHandlerRunsOnceThenTheDefault) {
  EXPECT_EXIT(
      {
        install_handler(SIGSEGV, [](int) {
          constexpr char text[] = "host handler ran\n";
          (void)!write(STDERR_FILENO, text, sizeof text - 1);
        }, SA_RESETHAND);
        expect_guarded_crash_caught();
        modules().null_deref(0);  // handler returns, the fault recurs, now with SIG_DFL
        _exit(93);
      },
      testing::KilledBySignal(SIGSEGV), "host handler ran");
}

std::atomic<bool> g_guarded_thread_waiting{false};
std::atomic<bool> g_release_guarded_thread{false};

// Starts a thread that sits inside a guarded call until told to leave.
std::thread start_idle_guarded_thread() {
  std::thread idle([] {
    sigset_t abrt;
    sigemptyset(&abrt);
    sigaddset(&abrt, SIGABRT);
    pthread_sigmask(SIG_UNBLOCK, &abrt, nullptr);  // whatever the starting thread blocks
    (void)guarded_call([] {
      g_guarded_thread_waiting.store(true);
      while (!g_release_guarded_thread.load()) usleep(1000);
    });
  });
  while (!g_guarded_thread_waiting.load()) usleep(1000);
  return idle;
}

void block_in_this_thread(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

TEST_F(CrashGuardDeathTest, AFaultOnAnUnguardedThreadIsNotSwallowedByAnotherThreadsGuard) {
  EXPECT_EXIT(
      {
        install_handler(SIGSEGV, SIG_DFL);
        std::thread idle = start_idle_guarded_thread();
        std::thread([] { modules().null_deref(0); }).join();
        _exit(93);
      },
      testing::KilledBySignal(SIGSEGV), "");
}

TEST_F(CrashGuardDeathTest, AbortSentWithKillWhileNoGuardIsActiveReachesTheHostHandler) {
  EXPECT_EXIT(
      {
        install_handler(SIGABRT, [](int) { _exit(45); });
        if (!install_crash_guard()) _exit(92);
        std::thread([] { kill(getpid(), SIGABRT); }).detach();
        sleep(5);
        _exit(93);
      },
      testing::ExitedWithCode(45), "");
}

TEST_F(CrashGuardDeathTest, AbortSentWithKillToAGuardedThreadReachesTheHostHandler) {
  EXPECT_EXIT(
      {
        install_handler(SIGABRT, [](int) { _exit(46); });
        // Only the guarded thread leaves SIGABRT unblocked, so the process-directed signal
        // can only land there: it was sent with kill(), so it is not the call's crash.
        block_in_this_thread(SIGABRT);
        std::thread idle = start_idle_guarded_thread();
        std::thread([] {
          block_in_this_thread(SIGABRT);
          kill(getpid(), SIGABRT);
        }).detach();
        sleep(5);
        _exit(93);
      },
      testing::ExitedWithCode(46), "");
}

}  // namespace
}  // namespace livemod
