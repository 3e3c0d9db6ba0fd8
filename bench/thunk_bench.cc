// thunk_bench: what a call on an unconverted object costs in the thunk alone, without the
// conversion. A virtual call whose vtable slot holds a conversion thunk (object/thunk.h) whose
// entry returns the implementation's address at once, beside a plain virtual call to the same
// implementation. The thunk's share is then: saving and restoring 7 integer and 8 vector
// registers, one indirect call to the entry and one indirect jump. Results: bench/RESULTS.md,
// "## object thunks".
//
//   livemod_thunk_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "object/thunk.h"
#include "os/code_memory.h"

// Named namespace, not anonymous: g++ knows every class of an anonymous namespace, proves no
// class derives from these, and would turn the virtual calls into direct ones.
namespace thunk_bench {

// Two classes of the same shape, so patching one vtable leaves the other's calls plain.
class plain {
 public:
  virtual long add(long a, double b) { return a + static_cast<long>(b); }
  virtual ~plain() = default;
};
class thunked {
 public:
  virtual long add(long a, double b) { return a + static_cast<long>(b); }
  virtual ~thunked() = default;
};

// What the thunk jumps to: the method as a function taking `this`, the same body.
__attribute__((noinline)) long thunked_add(thunked*, long a, double b) {
  return a + static_cast<long>(b);
}

// The entry of an object that needs no conversion: where to go, at once. The count proves the
// benchmark goes through the thunk (a relaxed increment of a thread's own line: a cycle).
long entry_calls = 0;
const void* entry_returns_at_once(void*, void* context) noexcept {
  ++entry_calls;
  return context;
}

template <class T>
T* opaque(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}

std::optional<livemod::object_detail::thunk_block>& thunks() {
  static std::optional<livemod::object_detail::thunk_block> block;
  return block;
}

// Points thunked's vtable slot 0 at a thunk once, for the whole run.
void install_thunk() {
  if (thunks()) return;
  long (*target)(thunked*, long, double) = &thunked_add;
  void* context = nullptr;
  std::memcpy(&context, &target, sizeof context);
  const livemod::object_detail::thunk_spec spec{&entry_returns_at_once, context, false};
  auto block = livemod::object_detail::thunk_block::create({&spec, 1});
  if (!block) std::abort();
  thunks().emplace(std::move(*block));
  thunked probe;
  void** vtable = nullptr;
  std::memcpy(&vtable, static_cast<void*>(opaque(&probe)), sizeof vtable);
  void* slot[1] = {const_cast<void*>(thunks()->address(0))};
  if (!livemod::os::patch_pointers(vtable, slot)) std::abort();
}

void plain_virtual_call(benchmark::State& state) {
  plain object;
  plain* p = opaque(&object);
  long sum = 0;
  for (auto _ : state) {
    sum += p->add(sum, 1.0);
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(plain_virtual_call);

void call_through_thunk(benchmark::State& state) {
  install_thunk();
  thunked object;
  thunked* p = opaque(&object);
  long sum = 0;
  const long before = entry_calls;
  for (auto _ : state) {
    sum += p->add(sum, 1.0);
    benchmark::DoNotOptimize(sum);
  }
  // 1 per call, or the compiler found a way around the thunk and the figure means nothing.
  state.counters["entry_calls_per_call"] = static_cast<double>(entry_calls - before) /
                                           static_cast<double>(state.iterations());
}
BENCHMARK(call_through_thunk);

}  // namespace thunk_bench

BENCHMARK_MAIN();
