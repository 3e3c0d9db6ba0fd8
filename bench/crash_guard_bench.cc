// crash_guard_bench: what a guarded call (livemod/crash_guard.h) costs over a plain call, in
// its two modes. exact saves the signal mask with sigsetjmp, which is one rt_sigprocmask
// system call per call; fast saves no mask and restores it from the handler's record only
// after a crash. The callee is an empty function reached through a pointer the compiler cannot
// see through, as a module's function is. Results: bench/RESULTS.md, "## crash guard".
//
//   livemod_crash_guard_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <signal.h>

#include "livemod/crash_guard.h"

namespace {

__attribute__((noinline)) void empty_callee(void* context) { benchmark::DoNotOptimize(context); }

// volatile: every call loads the pointer and calls through it, as a call into a module does.
void (*volatile callee)(void*) = &empty_callee;

void direct_call(benchmark::State& state) {
  int value = 0;
  for (auto _ : state) callee(&value);
}
BENCHMARK(direct_call);

void run_guarded_exact(benchmark::State& state) {
  int value = 0;
  const livemod::guard_options options{livemod::guard_mode::exact};
  (void)livemod::run_guarded(callee, &value, options);  // first call sets the thread up
  for (auto _ : state) {
    auto r = livemod::run_guarded(callee, &value, options);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(run_guarded_exact);

void run_guarded_fast(benchmark::State& state) {
  int value = 0;
  const livemod::guard_options options{livemod::guard_mode::fast};
  (void)livemod::run_guarded(callee, &value, options);
  for (auto _ : state) {
    auto r = livemod::run_guarded(callee, &value, options);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(run_guarded_fast);

// The typed face, with a lambda and a returned value, as the hot-swap engine's callers use it.
void guarded_call_fast(benchmark::State& state) {
  int value = 0;
  const livemod::guard_options options{livemod::guard_mode::fast};
  for (auto _ : state) {
    auto r = livemod::guarded_call(
        [&] {
          callee(&value);
          return value;
        },
        options);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(guarded_call_fast);

// The system call exact mode adds, alone: reading the signal mask.
void read_signal_mask(benchmark::State& state) {
  sigset_t mask;
  for (auto _ : state) {
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    benchmark::DoNotOptimize(mask);
  }
}
BENCHMARK(read_signal_mask);

}  // namespace

BENCHMARK_MAIN();
