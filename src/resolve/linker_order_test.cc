// The init order livemod computes, checked against glibc's ld.so itself: random DAGs of tiny
// shared libraries, linked to each other with DT_NEEDED in the graph's edge order, loaded by
// a real executable; each constructor writes its library's name to stdout as it runs.
//
// Cost: every module is the same object file, compiled once with `cc -fPIC` (its constructor
// learns its name with dladdr), so a graph costs one link per module and no compile. Modules
// are linked by the linker cc itself runs (`cc -print-prog-name=ld`), called directly: one
// process instead of the driver's three, with the same DT_NEEDED list cc would write (the
// dependencies in edge order, then libc.so.6). Graphs are built one after another.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "livemod/resolve.h"
#include "testing/temp_dir.h"
#include "testing/matchers.h"

namespace livemod {
namespace {

using testing_support::IsOk;
using testing_support::temp_dir;
namespace fs = std::filesystem;

constexpr std::uint32_t k_seed = 0x11d50a7;  // fixed: a failure must reproduce
constexpr int k_graphs = 20;
constexpr std::size_t k_max_modules = 30;

// The constructor every module shares. A data address inside the library is enough for
// dladdr to name the file that holds it.
constexpr const char* k_ctor_source = R"(#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>
static const char here = 0;
__attribute__((constructor)) static void report_init(void) {
  Dl_info info;
  if (!dladdr(&here, &info) || !info.dli_fname) return;
  const char* base = strrchr(info.dli_fname, '/');
  base = base ? base + 1 : info.dli_fname;
  if (write(1, base, strlen(base)) < 0 || write(1, "\n", 1) < 0) _exit(3);
}
)";

std::string quote(const fs::path& p) {
  std::string out = "'";
  for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct run_result {
  bool ok = false;
  std::string output;
};

// Runs a shell command and collects what it writes; ok when it exits with 0.
run_result run(const std::string& command) {
  run_result r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, got);
  r.ok = ::pclose(pipe) == 0;
  return r;
}

bool have_compiler() { return run("cc --version >/dev/null 2>&1").ok; }

// A random DAG: module i may need only modules with a smaller index, so building in index
// order always finds the libraries to link against. Names are shuffled so that they say
// nothing about the order.
struct random_graph {
  std::vector<std::string> names;
  std::vector<std::vector<std::size_t>> deps;  // link order
  std::vector<std::size_t> requested;          // the executable's link order

  std::string describe() const {
    std::ostringstream out;
    out << "requested:";
    for (std::size_t r : requested) out << " " << names[r];
    out << "\n";
    for (std::size_t i = 0; i < names.size(); ++i) {
      out << "  " << names[i] << " ->";
      for (std::size_t d : deps[i]) out << " " << names[d];
      out << "\n";
    }
    return out.str();
  }
};

random_graph make_graph(std::mt19937& rng, std::size_t n) {
  random_graph g;
  std::vector<std::size_t> label(n);
  std::iota(label.begin(), label.end(), std::size_t{0});
  std::shuffle(label.begin(), label.end(), rng);
  for (std::size_t i = 0; i < n; ++i) g.names.push_back("m" + std::to_string(label[i]));
  g.deps.resize(n);
  for (std::size_t i = 1; i < n; ++i) {
    // Mostly shallow fan-out with the odd wide node: both shapes change glibc's order.
    const std::size_t want = std::min<std::size_t>(i, rng() % 4 == 0 ? 1 + rng() % 6 : rng() % 3);
    std::vector<std::size_t> pool(i);
    std::iota(pool.begin(), pool.end(), std::size_t{0});
    std::shuffle(pool.begin(), pool.end(), rng);
    g.deps[i].assign(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(want));
  }
  // Every module is reached: most modules without a dependent get one above them (at a random
  // place in its link order), the rest are requested by the executable, in random order.
  std::vector<bool> has_parent(n, false);
  for (const auto& d : g.deps)
    for (std::size_t j : d) has_parent[j] = true;
  for (std::size_t j = 0; j + 1 < n; ++j) {
    if (has_parent[j] || rng() % 3 == 0) continue;
    auto& above = g.deps[j + 1 + rng() % (n - j - 1)];
    above.insert(above.begin() + static_cast<std::ptrdiff_t>(rng() % (above.size() + 1)), j);
    has_parent[j] = true;
  }
  for (std::size_t j = 0; j < n; ++j)
    if (!has_parent[j]) g.requested.push_back(j);
  std::shuffle(g.requested.begin(), g.requested.end(), rng);
  return g;
}

// What livemod says, through the public API, from the same graph.
std::vector<std::string> livemod_init_order(const random_graph& g) {
  std::vector<module_node> nodes;
  for (std::size_t i = 0; i < g.names.size(); ++i) {
    module_node node{g.names[i], parse_semver("1.0.0").value(), "/g/lib" + g.names[i] + ".so", {}};
    for (std::size_t d : g.deps[i])
      node.dependencies.push_back({g.names[d], version_range(), dependency_kind::required});
    nodes.push_back(std::move(node));
  }
  std::vector<module_ref> want;
  for (std::size_t r : g.requested) want.push_back(module_ref::named(g.names[r]));
  auto graph = resolve_graph(want, memory_provider(std::move(nodes)));
  EXPECT_THAT(graph, IsOk());
  std::vector<std::string> order;
  if (!graph) return order;
  for (std::size_t i : graph->init_order()) order.push_back(graph->modules()[i].name);
  return order;
}

std::string ran_text(const std::vector<std::string>& order) {
  return "constructors that ran: " + ::testing::PrintToString(order);
}

class LinkerOrder : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_compiler()) GTEST_SKIP() << "no C compiler (cc) to build the test libraries";
    std::ofstream(tmp_.path() / "ctor.c") << k_ctor_source;
    std::ofstream(tmp_.path() / "main.c") << "int main(void) { return 0; }\n";
    const run_result built =
        run("cd " + quote(tmp_.path()) +
            " && cc -c -fPIC -O1 ctor.c -o ctor.o && cc -c -O1 main.c -o main.o 2>&1");
    ASSERT_TRUE(built.ok) << built.output;
    const run_result ld = run("cc -print-prog-name=ld");
    ASSERT_TRUE(ld.ok);
    linker_ = ld.output.substr(0, ld.output.find('\n'));
    ASSERT_FALSE(linker_.empty());
  }

  // Builds the graph's libraries and an executable linked against the requested ones, runs
  // it under glibc's default sort, and returns the constructors' order.
  std::vector<std::string> glibc_init_order(const random_graph& g, const std::string& tag) {
    const fs::path dir = tmp_.path() / tag;
    fs::create_directories(dir);
    // One shell per graph. --no-as-needed keeps every DT_NEEDED even though nothing uses a
    // symbol; $ORIGIN makes the directory self-contained.
    auto needed = [&](const std::vector<std::size_t>& needs) {
      std::string flags;
      for (std::size_t d : needs) flags += " -l" + g.names[d];
      return flags;
    };
    std::string script = "set -e\ncd " + quote(dir) + "\n";
    for (std::size_t i = 0; i < g.names.size(); ++i) {
      script += quote(linker_) + " -shared -o lib" + g.names[i] +
                ".so ../ctor.o -L. --no-as-needed" + needed(g.deps[i]) + " -lc -rpath '$ORIGIN'\n";
    }
    script += "cc -o main ../main.o -L. -Wl,--no-as-needed" + needed(g.requested) +
              " -Wl,-rpath,'$ORIGIN'\n";
    std::ofstream(dir / "build.sh") << script;
    const run_result built = run("sh " + quote(dir / "build.sh") + " 2>&1");
    EXPECT_TRUE(built.ok) << built.output;
    if (!built.ok) return {};

    // Pin the sort algorithm (2 = DFS, glibc's default since 2.35) and keep preloads and
    // library paths out, so only the graph decides.
    const run_result ran =
        run("env -u LD_PRELOAD -u LD_LIBRARY_PATH "
            "GLIBC_TUNABLES=glibc.rtld.dynamic_sort=2 " +
            quote(dir / "main"));
    EXPECT_TRUE(ran.ok) << ran.output;
    std::vector<std::string> order;
    std::istringstream lines(ran.output);
    for (std::string line; std::getline(lines, line);) {
      // "libm7.so" -> "m7"
      if (line.rfind("lib", 0) == 0 && line.size() > 6)
        order.push_back(line.substr(3, line.size() - 6));
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return order;
  }

  temp_dir tmp_;
  std::string linker_;
};

// The example from the issue: glibc 2.36 initializes m4 before m1 for a module linked
// -lm1 -lm4. If this fails, the platform's rule changed and so must init_order.
TEST_F(LinkerOrder, GlibcRunsTheLaterSiblingFirst) {
  random_graph g;
  g.names = {"m1", "m4", "app"};
  g.deps = {{}, {}, {0, 1}};
  g.requested = {2};
  const auto actual = glibc_init_order(g, "sibling");
  EXPECT_THAT(actual, ::testing::ElementsAre("m4", "m1", "app"));
  EXPECT_EQ(livemod_init_order(g), actual);
}

TEST_F(LinkerOrder, RandomGraphsMatchGlibc) {
  std::mt19937 rng(k_seed);
  std::size_t modules = 0, edges = 0;
  for (int n = 0; n < k_graphs; ++n) {
    // Sizes spread over 8..30, the first graph at the maximum.
    const std::size_t size = n == 0 ? k_max_modules : 8 + rng() % (k_max_modules - 7);
    const random_graph g = make_graph(rng, size);
    const auto expected = livemod_init_order(g);
    const auto actual = glibc_init_order(g, "g" + std::to_string(n));
    // Every module is reachable by construction, so every constructor must have run.
    ASSERT_EQ(actual.size(), size) << "graph " << n << "\n" << g.describe() << ran_text(actual);
    ASSERT_EQ(expected, actual) << "seed " << k_seed << ", graph " << n << " of " << size
                                << " modules\n"
                                << g.describe()
                                << "expected (livemod): " << ::testing::PrintToString(expected)
                                << "\nactual (ld.so):     " << ::testing::PrintToString(actual);
    modules += size;
    for (const auto& d : g.deps) edges += d.size();
  }
  std::cout << "[   info   ] " << k_graphs << " graphs, " << modules << " modules, " << edges
            << " DT_NEEDED edges: init order equal to ld.so's in every graph\n";
}

}  // namespace
}  // namespace livemod
