// Swap latency, event-driven: a new file is renamed into a watched dir; the module_watcher
// reports it, the engine swaps, and a caller thread notes the first call served by the new
// version. Over N swaps (default 200) alternating two builds (the preflight verdict is cached
// for bytes already checked), then M swaps of bytes never seen (a full check() each), with the
// per-step breakdown from the engine's events and the grace period.
//   livemod_swap_latency_bench [N] [M]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "counter_api.h"
#include "livemod/live.h"
#include "livemod/watch.h"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {
double ms(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}
struct step_times {
  std::vector<double> stage, preflight, load, migrate, publish, grace, unload;
};
void print(const char* what, const std::vector<double>& total, const step_times& s) {
  std::printf("%s: %zu swaps\n", what, total.size());
  std::printf("  rename -> first call by new version: median %.3f ms, p99 %.3f ms, max %.3f ms\n",
              pct(total, 0.5), pct(total, 0.99), pct(total, 1.0));
  std::printf("  steps (median / p99 ms): stage %.3f/%.3f  preflight %.3f/%.3f  load %.3f/%.3f  "
              "migrate %.3f/%.3f  publish %.4f/%.4f\n",
              pct(s.stage, .5), pct(s.stage, .99), pct(s.preflight, .5), pct(s.preflight, .99),
              pct(s.load, .5), pct(s.load, .99), pct(s.migrate, .5), pct(s.migrate, .99),
              pct(s.publish, .5), pct(s.publish, .99));
  std::printf("  after publish: grace period median %.3f ms max %.3f ms; unload median %.3f ms "
              "max %.3f ms\n",
              pct(s.grace, .5), pct(s.grace, 1.0), pct(s.unload, .5), pct(s.unload, 1.0));
}
}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  int m = argc > 2 ? std::atoi(argv[2]) : 20;
  char tmpl[] = "/tmp/livemod-swap-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  fs::path dir = tmpl;
  std::mutex mu;
  step_times steps;
  livemod::live_options o;
  o.interface_id = COUNTER_API_ID;
  o.on_event = [&](const livemod::live_event& e) {
    std::lock_guard lock(mu);
    if (e.kind == livemod::live_event_kind::swapped) {
      steps.stage.push_back(ms(e.timings.stage));
      steps.preflight.push_back(ms(e.timings.preflight));
      steps.load.push_back(ms(e.timings.load));
      steps.migrate.push_back(ms(e.timings.migrate));
      steps.publish.push_back(ms(e.timings.publish));
    } else if (e.kind == livemod::live_event_kind::unloaded) {
      steps.grace.push_back(ms(e.timings.grace));
      steps.unload.push_back(ms(e.timings.unload));
    }
  };
  auto created = livemod::live_module::create(o);
  if (!created) return 1;
  livemod::live_module& mod = **created;
  fs::path v1 = fs::path(LIVEMOD_BENCH_BUILDS) / "counter_v1/libcounter.so";
  fs::path v2 = fs::path(LIVEMOD_BENCH_BUILDS) / "counter_v2/libcounter.so";
  fs::copy_file(v1, dir / "libcounter.so");
  if (!mod.swap_to(dir / "libcounter.so")) return 1;

  std::atomic<int> want{0};
  std::atomic<clock_type::rep> served_at{0};
  std::atomic<bool> stop{false};
  std::thread caller([&] {
    livemod::live<counter_api> h(mod);
    while (!stop.load(std::memory_order_relaxed)) {
      auto r = h.call([](const counter_api& a) { return a.build(); });
      if (r && *r == want.load(std::memory_order_relaxed) && served_at.load() == 0)
        served_at = clock_type::now().time_since_epoch().count();
    }
  });
  livemod::watch_options w;
  w.dirs = {dir};
  auto watcher = livemod::module_watcher::start(w, [&](const livemod::watch_event& e) {
    if (e.kind == livemod::watch_event_kind::changed) mod.request_swap(e.path, {true});
  });
  if (!watcher) return 1;

  auto one_swap = [&](const fs::path& from, int build, bool fresh_bytes, int i) -> double {
    fs::path tmp = dir / ".libcounter.so.tmp";
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
    if (fresh_bytes) {
      std::ofstream(tmp, std::ios::app | std::ios::binary) << "pad" << i;  // new bytes, same ELF
    }
    served_at = 0;
    want = build;
    auto renamed = clock_type::now();
    fs::rename(tmp, dir / "libcounter.so");
    while (served_at.load() == 0) std::this_thread::yield();
    double l = ms(clock_type::time_point(clock_type::duration(served_at.load())) - renamed);
    mod.wait_idle();
    return l;
  };
  // Warm up: both builds checked once.
  one_swap(v2, 200, false, 0);
  one_swap(v1, 100, false, 0);
  {
    std::lock_guard lock(mu);
    steps = {};
  }
  std::vector<double> total;
  for (int i = 0; i < n; ++i) total.push_back(one_swap(i % 2 ? v1 : v2, i % 2 ? 100 : 200, false, i));
  {
    std::lock_guard lock(mu);
    print("swaps between builds already checked (cached preflight verdict)", total, steps);
    steps = {};
  }
  total.clear();
  for (int i = 0; i < m; ++i)
    total.push_back(one_swap(i % 2 ? v1 : v2, i % 2 ? 100 : 200, true, i + 1));
  {
    std::lock_guard lock(mu);
    print("swaps of bytes never seen (full check() each)", total, steps);
  }
  stop = true;
  caller.join();
  watcher->stop();
  created->reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
