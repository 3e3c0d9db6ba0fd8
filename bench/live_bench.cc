// The hot swap's call path (Google Benchmark): a call through live<Api> (one guarded call: one
// RCU read-side section) and a batch of 100 calls in one scope, beside a raw function-pointer
// call and a std::function call to the same module function, at 1 and 2 threads. And the read
// sides alone around a raw call: livemod::rcu against liburcu's memb flavour, inlined.
// bench/RESULTS.md, "## hot swap", has the command and the figures.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <functional>
#include <memory>

#include "counter_api.h"
#include "livemod/live.h"
#include "livemod/rcu.h"

#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

namespace {

livemod::live_module* module() {
  static std::unique_ptr<livemod::live_module> m = [] {
    livemod::live_options o;
    o.interface_id = COUNTER_API_ID;
    o.probation_calls = 0;  // measure the steady state, not the first calls of a new version
    auto created = livemod::live_module::create(o);
    if (!created) std::abort();
    if (!(*created)->swap_to(LIVEMOD_BENCH_COUNTER)) std::abort();
    return std::move(*created);
  }();
  return m.get();
}

const counter_api* raw_table() {
  livemod::live<counter_api> h(*module());
  auto s = h.scope();
  return &*s;  // the table stays valid: no swap happens during the benchmark
}

void raw_pointer(benchmark::State& state) {
  const counter_api* api = raw_table();
  auto* volatile fn = api->build;
  for (auto _ : state) benchmark::DoNotOptimize(fn());
}

void std_function(benchmark::State& state) {
  std::function<std::int32_t()> fn = raw_table()->build;
  benchmark::DoNotOptimize(fn);
  for (auto _ : state) benchmark::DoNotOptimize(fn());
}

void live_call(benchmark::State& state) {
  livemod::live<counter_api> h(*module());
  for (auto _ : state) {
    auto r = h.call([](const counter_api& a) { return a.build(); });
    benchmark::DoNotOptimize(r);
  }
}

// The batch of 100 calls, one copy of the code for both batch benchmarks: inlined into each,
// the loop's placement (a 32-byte boundary inside it or not) moved either by ~20 % on its own.
[[gnu::noinline]] void hundred_calls(std::int32_t (*fn)()) {
  auto* volatile f = fn;
  for (int i = 0; i < 100; ++i) benchmark::DoNotOptimize(f());
}

void raw_pointer_x100(benchmark::State& state) {
  const counter_api* api = raw_table();
  for (auto _ : state) hundred_calls(api->build);
}

void live_scope_x100(benchmark::State& state) {
  livemod::live<counter_api> h(*module());
  for (auto _ : state) {
    auto s = h.scope();
    hundred_calls(s->build);
  }
}

void rcu_section(benchmark::State& state) {
  auto* volatile fn = raw_table()->build;
  for (auto _ : state) {
    livemod::rcu::read_lock();
    benchmark::DoNotOptimize(fn());
    livemod::rcu::read_unlock();
  }
}

void urcu_memb_section(benchmark::State& state) {
  thread_local bool registered = (urcu_memb_register_thread(), true);
  benchmark::DoNotOptimize(registered);
  auto* volatile fn = raw_table()->build;
  for (auto _ : state) {
    urcu_memb_read_lock();
    benchmark::DoNotOptimize(fn());
    urcu_memb_read_unlock();
  }
}

BENCHMARK(raw_pointer)->Threads(1)->Threads(2);
BENCHMARK(rcu_section)->Threads(1)->Threads(2);
BENCHMARK(urcu_memb_section)->Threads(1)->Threads(2);
BENCHMARK(std_function)->Threads(1)->Threads(2);
BENCHMARK(live_call)->Threads(1)->Threads(2);
BENCHMARK(raw_pointer_x100)->Threads(1)->Threads(2);
BENCHMARK(live_scope_x100)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
