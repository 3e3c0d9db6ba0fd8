// The hot swap's call path (Google Benchmark): a call through live<Api> (one guarded call: one
// RCU read-side section) and a batch of 100 calls in one scope, beside a raw function-pointer
// call and a std::function call to the same module function, at 1 and 2 threads. And the read
// sides alone around a raw call: livemod::rcu against liburcu's memb flavour, inlined. And the
// one-call ratio measured in pairs at eight placements of the loops (paired_call, below).
// bench/RESULTS.md, "## hot swap", has the command and the figures.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "counter_api.h"
#include "livemod/live.h"
#include "livemod/rcu.h"

#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

namespace {

// The counter module, loaded once per process, with `probation_calls` guarded first calls.
std::unique_ptr<livemod::live_module> load_counter(std::uint64_t probation_calls) {
  livemod::live_options o;
  o.interface_id = COUNTER_API_ID;
  o.probation_calls = probation_calls;
  auto created = livemod::live_module::create(o);
  if (!created) std::abort();
  if (!(*created)->swap_to(LIVEMOD_BENCH_COUNTER)) std::abort();
  return std::move(*created);
}

livemod::live_module* module() {
  // Probation 0: measure the steady state, not the first calls of a new version.
  static std::unique_ptr<livemod::live_module> m = load_counter(0);
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

// A new version's first calls: each one guarded (the crash guard) and counted for probation.
// The version here never leaves probation, so this is the steady cost of such a call.
livemod::live_module* module_on_probation() {
  static std::unique_ptr<livemod::live_module> m =
      load_counter(std::numeric_limits<std::uint64_t>::max());
  return m.get();
}

void live_call_on_probation(benchmark::State& state) {
  livemod::live<counter_api> h(*module_on_probation());
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

// One call, paired, at eight placements. Timed as separate benchmarks, raw_pointer and
// live_call run a second apart, and on this shared 2-vCPU machine what the other vCPU runs
// moved one more than the other. Here a raw loop and a live loop run alternately in blocks of
// 20,000 calls and the ratio is taken per pair of blocks, so both sides of each ratio see the
// same moment. And each pair runs at one of eight placements of its loops (the code shifted
// 0-56 bytes after a 64-byte boundary): in a loop of 8-9 cycles, whether the code from the
// call's return to the loop's back branch crosses a 64-byte line moved the ratio from 1.13x to
// 1.25-1.55x (bench/RESULTS.md), so one placement is one draw of the compiler's layout, not the
// call path. A third loop wraps the raw call's value in result<T> and nothing else: what the
// result type alone costs at that placement.
constexpr int k_block_calls = 20'000;
constexpr int k_pairs = 400;

using block_clock = std::chrono::steady_clock;

// Shift bytes of no-ops at the start of a block function (64-byte aligned), run once per block.
template <int Shift>
[[gnu::always_inline]] inline void shift_code() {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile(".skip %c0, 0x90" ::"i"(Shift));
#else
  __asm__ volatile(".rept %c0 / 4\n\tnop\n\t.endr" ::"i"(Shift));
#endif
}

template <int Shift>
[[gnu::noinline, gnu::aligned(64)]] std::int64_t raw_block(std::int32_t (*fn)()) {
  shift_code<Shift>();
  auto* volatile f = fn;
  const auto start = block_clock::now();
  for (int i = 0; i < k_block_calls; ++i) benchmark::DoNotOptimize(f());
  return (block_clock::now() - start).count();
}

template <int Shift>
[[gnu::noinline, gnu::aligned(64)]] std::int64_t raw_result_block(std::int32_t (*fn)()) {
  shift_code<Shift>();
  auto* volatile f = fn;
  const auto start = block_clock::now();
  for (int i = 0; i < k_block_calls; ++i) {
    livemod::result<std::int32_t> r = f();
    benchmark::DoNotOptimize(r);
  }
  return (block_clock::now() - start).count();
}

template <int Shift>
[[gnu::noinline, gnu::aligned(64)]] std::int64_t live_block(livemod::live<counter_api> h) {
  shift_code<Shift>();
  const auto start = block_clock::now();
  for (int i = 0; i < k_block_calls; ++i) {
    auto r = h.call([](const counter_api& a) { return a.build(); });
    benchmark::DoNotOptimize(r);
  }
  return (block_clock::now() - start).count();
}

struct placement {
  std::int64_t (*raw)(std::int32_t (*)());
  std::int64_t (*raw_result)(std::int32_t (*)());
  std::int64_t (*live)(livemod::live<counter_api>);
};
template <int... Eighths>
constexpr std::array<placement, sizeof...(Eighths)> make_placements(
    std::integer_sequence<int, Eighths...>) {
  return {placement{&raw_block<Eighths * 8>, &raw_result_block<Eighths * 8>,
                    &live_block<Eighths * 8>}...};
}
constexpr auto k_placements = make_placements(std::make_integer_sequence<int, 8>{});

void paired_call(benchmark::State& state) {
  const placement& p = k_placements.at(static_cast<std::size_t>(state.range(0) / 8));
  livemod::live<counter_api> h(*module());
  std::int32_t (*fn)() = raw_table()->build;
  std::vector<double> live_ratios, result_ratios, raw_ns;
  for (auto _ : state) {
    for (int i = 0; i < k_pairs; ++i) {
      // The raw block goes first in even pairs and last in odd ones, so neither side always
      // runs right after the other.
      const std::int64_t raw_before = i % 2 == 0 ? p.raw(fn) : 0;
      const std::int64_t live_t = p.live(h);
      const std::int64_t result_t = p.raw_result(fn);
      const std::int64_t raw_t = i % 2 == 0 ? raw_before : p.raw(fn);
      live_ratios.push_back(double(live_t) / double(raw_t));
      result_ratios.push_back(double(result_t) / double(raw_t));
      raw_ns.push_back(double(raw_t) / k_block_calls);
    }
  }
  const auto quantile = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(q * double(v.size() - 1))];
  };
  using counter = benchmark::Counter;
  state.counters["live/raw"] = counter(quantile(live_ratios, 0.5), counter::kAvgThreads);
  state.counters["live/raw_p10"] = counter(quantile(live_ratios, 0.1), counter::kAvgThreads);
  state.counters["live/raw_p90"] = counter(quantile(live_ratios, 0.9), counter::kAvgThreads);
  state.counters["result/raw"] = counter(quantile(result_ratios, 0.5), counter::kAvgThreads);
  state.counters["raw_ns"] = counter(quantile(raw_ns, 0.5), counter::kAvgThreads);
}

BENCHMARK(raw_pointer)->Threads(1)->Threads(2);
BENCHMARK(rcu_section)->Threads(1)->Threads(2);
BENCHMARK(urcu_memb_section)->Threads(1)->Threads(2);
BENCHMARK(std_function)->Threads(1)->Threads(2);
BENCHMARK(live_call)->Threads(1)->Threads(2);
BENCHMARK(live_call_on_probation)->Threads(1)->Threads(2);
BENCHMARK(raw_pointer_x100)->Threads(1)->Threads(2);
BENCHMARK(live_scope_x100)->Threads(1)->Threads(2);
BENCHMARK(paired_call)->ArgName("shift")->DenseRange(0, 56, 8)->Iterations(1)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
