// Loading a generated graph of tiny modules through the registry, side by side with a plain
// dlopen loop over the same files in the same order (bench/RESULTS.md, "## registry").
//
//   livemod_registry_bench [--modules 500] [--rounds 3] [--dir DIR] [--preflight-threads N]
//
// The modules are C sources written and compiled (cc -shared -fPIC) into DIR at start, each
// with its manifest in a `.livemod.manifest` section and a fingerprint from the same
// compiler, so the preflight passes; module i needs up to three earlier ones. DIR is kept and
// reused when it already holds them (default: a fresh temporary directory, removed at the
// end). Rounds alternate which loader goes first, so drift on a shared machine and the wake of
// the other's mass unload hit both alike; the figures that matter are the ratio of their sums
// and the median of the rounds' ratios.
//
// What each round measures:
//   dlopen     dlopen(RTLD_NOW | RTLD_LOCAL) of every file in the graph's load order
//   registry   a fresh registry's load of the graph's roots: resolve_graph (a stat per
//              module), the preflight check() of every module (started on other threads as
//              resolve finds the files), dlopen, on_load
//   cached     the same registry loading the graph again after everything was unloaded:
//              the preflight verdicts are cached per file version, the rest is redone
// Teardown (dlclose, on_unload) is outside every timing. The untimed warm-up round is timed
// all the same and printed on its own: it is the first load in the process, when the
// process-wide caches (module and library images and module nodes by file version, parsed
// manifests, the host's scope) are still empty, which is what a host starting up pays. The rounds after it
// use a fresh registry but find those caches warm.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "livemod/registry.h"
#include "livemod/resolve.h"

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

struct options {
  std::size_t modules = 500;
  int rounds = 3;
  fs::path dir;
  unsigned preflight_threads = 0;  // registry_options::preflight_threads
};

double seconds(clock_type::duration d) { return std::chrono::duration<double>(d).count(); }
double millis(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Module i: a name, its dependencies, an on_load that answers the ABI.
std::string module_source(std::size_t i, const std::vector<std::size_t>& deps) {
  std::string json = "{\\\"schema\\\":1,\\\"name\\\":\\\"bm" + std::to_string(i) +
                     "\\\",\\\"version\\\":\\\"1.0.0\\\",\\\"abi\\\":1,\\\"dependencies\\\":[";
  for (std::size_t k = 0; k < deps.size(); ++k) {
    json += (k ? "," : "") + std::string("{\\\"name\\\":\\\"bm") + std::to_string(deps[k]) +
            "\\\",\\\"version\\\":\\\"^1.0\\\",\\\"kind\\\":\\\"required\\\"}";
  }
  json += "],\\\"entry_points\\\":{\\\"on_load\\\":\\\"bm_on_load\\\"}}";
  std::string src;
  src += "#include <livemod/sdk/fingerprint.h>\n#include <livemod/sdk/module.h>\n";
  src += "__attribute__((section(\".livemod.manifest\"), used)) static const char manifest[] =\n";
  src += "  \"{\\\"fingerprint\\\":\" LIVEMOD_BUILD_FINGERPRINT_JSON \",\" \"" + json.substr(1) +
         "\";\n";
  src += "static int value = " + std::to_string(i) + ";\n";
  src += "LIVEMOD_EXPORT int bm" + std::to_string(i) + "_value(void) { return value; }\n";
  src += "LIVEMOD_EXPORT int32_t bm_on_load(const livemod_host_api* host, uint32_t abi) {\n"
         "  (void)host;\n  return abi == LIVEMOD_ABI_VERSION ? LIVEMOD_ABI_VERSION : -LIVEMOD_E_ABI;\n}\n";
  return src;
}

// Module i needs up to three earlier modules; the same seed gives the same graph every run.
std::vector<std::vector<std::size_t>> make_dependencies(std::size_t modules) {
  std::mt19937 rng(0x1ab5eed);
  std::vector<std::vector<std::size_t>> deps(modules);
  for (std::size_t i = 1; i < modules; ++i) {
    const std::size_t fan = rng() % 4;
    for (std::size_t k = 0; k < fan; ++k) {
      const std::size_t d = rng() % i;
      if (std::find(deps[i].begin(), deps[i].end(), d) == deps[i].end()) deps[i].push_back(d);
    }
  }
  return deps;
}

bool generate(const options& o, const std::vector<std::vector<std::size_t>>& deps) {
  const fs::path last = o.dir / ("libbm" + std::to_string(o.modules - 1) + ".so");
  if (fs::exists(last)) return true;  // kept from an earlier run
  std::ofstream list(o.dir / "sources.txt");
  for (std::size_t i = 0; i < o.modules; ++i) {
    std::ofstream(o.dir / ("bm" + std::to_string(i) + ".c")) << module_source(i, deps[i]);
    list << "bm" << i << "\n";
  }
  list.close();
  // Two compilers at once: the machine is shared.
  std::ofstream(o.dir / "build.sh")
      << "cd \"$(dirname \"$0\")\" && xargs -P 2 -n 25 sh -c "
         "'for m; do cc -shared -fPIC -O1 -I\"" LIVEMOD_BENCH_INCLUDE_DIR
         "\" -o lib$m.so $m.c || exit 255; done' _ < sources.txt\n";
  std::printf("compiling %zu modules in %s ...\n", o.modules, o.dir.c_str());
  std::fflush(stdout);
  const std::string cmd = "sh '" + (o.dir / "build.sh").string() + "'";
  return std::system(cmd.c_str()) == 0 && fs::exists(last);
}

struct graph_files {
  std::vector<livemod::module_ref> roots;
  std::vector<fs::path> load_order;
};

livemod::module_search_path search(const options& o) {
  return livemod::module_search_path({o.dir}, "", {});
}

bool plan(const options& o, const std::vector<std::vector<std::size_t>>& deps, graph_files& g) {
  // The roots: modules nobody needs, as a host would list what it wants.
  std::vector<bool> needed(o.modules, false);
  for (const auto& d : deps)
    for (std::size_t target : d) needed[target] = true;
  for (std::size_t i = 0; i < o.modules; ++i)
    if (!needed[i]) g.roots.push_back(livemod::module_ref::named("bm" + std::to_string(i)));
  auto graph = livemod::resolve_graph(g.roots, livemod::manifest_provider(search(o)));
  if (!graph) {
    std::fprintf(stderr, "resolve: %s\n", graph.error().describe().c_str());
    return false;
  }
  for (std::size_t i : graph->load_order()) g.load_order.push_back(graph->modules()[i].file);
  return g.load_order.size() == o.modules;
}

clock_type::duration plain_dlopen(const graph_files& g) {
  std::vector<void*> handles;
  handles.reserve(g.load_order.size());
  const auto start = clock_type::now();
  for (const fs::path& f : g.load_order) {
    void* h = ::dlopen(f.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      std::fprintf(stderr, "dlopen: %s\n", ::dlerror());
      std::exit(1);
    }
    handles.push_back(h);
  }
  const auto took = clock_type::now() - start;
  for (auto it = handles.rbegin(); it != handles.rend(); ++it) ::dlclose(*it);
  return took;
}

struct registry_round {
  clock_type::duration first{}, cached{};
  livemod::load_report report, cached_report;
};

registry_round through_registry(const options& o, const graph_files& g) {
  registry_round r;
  livemod::registry_options settings;
  settings.search = search(o);
  settings.preflight_threads = o.preflight_threads;
  livemod::registry host(std::move(settings));
  for (int pass = 0; pass < 2; ++pass) {
    livemod::load_report& report = pass == 0 ? r.report : r.cached_report;
    const auto start = clock_type::now();
    livemod::load_options how;
    how.report = &report;
    auto handles = host.load(g.roots, how);
    const auto took = clock_type::now() - start;
    if (!handles) {
      std::fprintf(stderr, "registry: %s\n", handles.error().describe().c_str());
      std::exit(1);
    }
    (pass == 0 ? r.first : r.cached) = took;
    if (host.modules().size() != o.modules) {
      std::fprintf(stderr, "registry: %zu modules loaded, %zu expected\n", host.modules().size(),
                   o.modules);
      std::exit(1);
    }
    handles->clear();  // unloads everything, outside the timing
  }
  return r;
}

struct breakdown {
  std::chrono::nanoseconds resolve{}, preflight{}, check{}, map{}, init{};
  void add(const livemod::load_report& r) {
    resolve += r.resolve;
    preflight += r.preflight;
    for (const auto& m : r.loaded) {
      check += m.check;
      map += m.map;
      init += m.init;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--modules" && i + 1 < argc) {
      o.modules = std::strtoul(argv[++i], nullptr, 10);
    } else if (a == "--rounds" && i + 1 < argc) {
      o.rounds = std::atoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      o.dir = argv[++i];
    } else if (a == "--preflight-threads" && i + 1 < argc) {
      o.preflight_threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--modules N] [--rounds N] [--dir DIR] [--preflight-threads N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (o.modules == 0 || o.rounds <= 0) return 2;
  bool temporary = false;
  if (o.dir.empty()) {
    std::string pattern = (fs::temp_directory_path() / "livemod-registry-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) return 1;
    o.dir = pattern;
    temporary = true;
  }
  fs::create_directories(o.dir);
  const auto deps = make_dependencies(o.modules);
  if (!generate(o, deps)) {
    std::fprintf(stderr, "could not compile the modules in %s\n", o.dir.c_str());
    return 1;
  }
  graph_files g;
  if (!plan(o, deps, g)) return 1;
  std::printf("%zu modules, %zu roots, %d rounds, preflight threads %u (0: automatic)\n",
              o.modules, g.roots.size(), o.rounds, o.preflight_threads);

  // One warm-up of each, not in the means: page cache, ld.so.cache, the host's own libraries,
  // and livemod's process-wide caches. Printed as the first load in this process.
  const auto cold_dl = plain_dlopen(g);
  const auto cold = through_registry(o, g);
  {
    breakdown b;
    b.add(cold.report);
    std::printf("first load in this process: dlopen %.1f ms, registry %.1f ms (ratio %.2fx)\n"
                "  resolve %.1f ms, preflight %.1f ms (checks %.1f ms), map %.1f ms, "
                "on_load %.1f ms\n",
                seconds(cold_dl) * 1e3, seconds(cold.first) * 1e3,
                seconds(cold.first) / seconds(cold_dl), millis(b.resolve), millis(b.preflight),
                millis(b.check), millis(b.map), millis(b.init));
  }

  clock_type::duration dl{}, reg{}, cached{};
  breakdown first, again;
  livemod::load_report last;
  std::vector<double> ratios;
  for (int round = 0; round < o.rounds; ++round) {
    // Which goes first alternates: each follows the other's mass unload every other round.
    clock_type::duration d{};
    registry_round r;
    if (round % 2 == 0) {
      d = plain_dlopen(g);
      r = through_registry(o, g);
    } else {
      r = through_registry(o, g);
      d = plain_dlopen(g);
    }
    ratios.push_back(seconds(r.first) / seconds(d));
    dl += d;
    reg += r.first;
    cached += r.cached;
    first.add(r.report);
    again.add(r.cached_report);
    last = r.report;
    std::printf("round %d: dlopen %.3f s, registry %.3f s, registry (cached preflight) %.3f s\n",
                round + 1, seconds(d), seconds(r.first), seconds(r.cached));
    std::fflush(stdout);
  }
  const double n = o.rounds;
  std::printf("\nper round (mean of %d)\n", o.rounds);
  std::printf("  dlopen loop                     %9.1f ms\n", seconds(dl) * 1e3 / n);
  std::sort(ratios.begin(), ratios.end());
  std::printf("  registry, fresh                 %9.1f ms   ratio %.2fx (median of the rounds' "
              "ratios %.2fx)\n",
              seconds(reg) * 1e3 / n, seconds(reg) / seconds(dl), ratios[ratios.size() / 2]);
  std::printf("    resolve %.1f ms, preflight %.1f ms (checks %.1f ms), map %.1f ms, "
              "on_load %.1f ms\n",
              millis(first.resolve) / n, millis(first.preflight) / n, millis(first.check) / n,
              millis(first.map) / n, millis(first.init) / n);
  std::printf("    without the preflight          %9.1f ms   ratio %.2fx\n",
              (seconds(reg) * 1e3 - millis(first.preflight)) / n,
              (seconds(reg) - millis(first.preflight) / 1e3) / seconds(dl));
  std::printf("  registry, preflight cached      %9.1f ms   ratio %.2fx\n",
              seconds(cached) * 1e3 / n, seconds(cached) / seconds(dl));
  std::printf("    resolve %.1f ms, preflight %.1f ms, map %.1f ms, on_load %.1f ms\n",
              millis(again.resolve) / n, millis(again.preflight) / n, millis(again.map) / n,
              millis(again.init) / n);
  std::printf("  check per module (its thread)   %9.3f ms\n",
              millis(first.check) / n / static_cast<double>(o.modules));
  // The startup report of the last fresh load, first rows: what a host would print.
  const auto& rows = last.loaded;
  const std::size_t shown = std::min<std::size_t>(rows.size(), 5);
  std::printf("\nstartup report, first %zu of %zu rows:\n%s", shown, rows.size(),
              livemod::format_timings(std::span(rows.data(), shown), last.resolve).c_str());

  if (temporary) {
    std::error_code ec;
    fs::remove_all(o.dir, ec);
  }
  return 0;
}
