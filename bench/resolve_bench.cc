// Resolving a generated graph in memory (no file is read, nothing is loaded): names looked up
// through memory_provider, ranges checked, cycles searched, load and init order computed.
// The graph grows from 1k to 10k modules to show that the cost is linear.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "livemod/resolve.h"

namespace {

struct generated {
  std::vector<livemod::module_node> nodes;
  std::vector<livemod::module_ref> requests;
};

// Module i needs up to three earlier modules (required, now and then weak or missing-weak),
// with caret ranges its targets satisfy; every module nobody needs is requested.
generated make_graph(std::size_t n) {
  std::mt19937 rng(0x5eed);
  const livemod::version_range caret = livemod::parse_version_range("^1.0").value();
  const livemod::semver version = livemod::parse_semver("1.2.3").value();
  generated g;
  g.nodes.reserve(n);
  std::vector<bool> needed(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    livemod::module_node node{
        "m" + std::to_string(i), version, "/bench/libm" + std::to_string(i) + ".so", {}};
    const std::size_t fan = i == 0 ? 0 : 1 + rng() % 3;
    for (std::size_t k = 0; k < fan; ++k) {
      const std::size_t target = rng() % i;
      const bool weak = rng() % 10 == 0;
      node.dependencies.push_back(
          {"m" + std::to_string(target), caret,
           weak ? livemod::dependency_kind::weak : livemod::dependency_kind::required});
      needed[target] = true;
    }
    if (rng() % 20 == 0)
      node.dependencies.push_back(
          {"absent" + std::to_string(i), caret, livemod::dependency_kind::weak});
    g.nodes.push_back(std::move(node));
  }
  for (std::size_t i = 0; i < n; ++i)
    if (!needed[i]) g.requests.push_back(livemod::module_ref::named("m" + std::to_string(i)));
  return g;
}

void BM_resolve_graph(benchmark::State& state) {
  const generated g = make_graph(static_cast<std::size_t>(state.range(0)));
  const livemod::node_provider provider = livemod::memory_provider(g.nodes);
  std::size_t modules = 0;
  for (auto _ : state) {
    auto graph = livemod::resolve_graph(g.requests, provider);
    if (!graph) {
      state.SkipWithError(graph.error().message().c_str());
      return;
    }
    modules = graph->modules().size();
    benchmark::DoNotOptimize(graph->init_order().data());
  }
  state.counters["modules"] = static_cast<double>(modules);
  state.SetComplexityN(state.range(0));
}
BENCHMARK(BM_resolve_graph)
    ->Arg(1000)
    ->Arg(2000)
    ->Arg(5000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Complexity(benchmark::oN);

}  // namespace

BENCHMARK_MAIN();
