// Swap latency, event-driven: a new build is renamed into a watched dir; the module_watcher
// reports it, the engine's worker swaps, and a caller thread notes the first call served by the
// new version. Each swap is timed from the rename to that call and broken down by step:
//   event    rename -> the watcher read the inotify event (watch_event::observed_at)
//   check    -> the watcher's callback ran (completeness check, debounce)
//   queued   -> the engine's worker started the swap (request_swap wakes it)
//   stage, preflight, load, migrate, publish (the engine's swap_timings)
//   call     publish -> the first call served by the new version (the busy caller's own
//            scheduling: a caller thread that is off its CPU when the table changes)
// and after publish, off the latency path: grace period and unload, and publish -> old image
// unmapped. Three runs: N swaps alternating two builds already checked once (the preflight
// verdict is cached for exact bytes) with 1 busy caller, the same with 2 busy callers, then M
// swaps of bytes never seen (a full check() each). After each run, the host's steal time over
// it: on a VM, the host taking a vCPU away shows up as a swap that waits milliseconds.
//   livemod_swap_latency_bench [N=200] [M=10]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "counter_api.h"
#include "livemod/live.h"
#include "livemod/watch.h"
#include "steal_time.h"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {
double ms(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
// Nearest rank: the value below which a fraction p of the samples lie.
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(p * static_cast<double>(v.size()) + 0.999999);
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

struct samples {
  std::vector<double> total, to_publish, event, check, queued, stage, preflight, load, migrate, publish, call;
  std::vector<double> grace, unload, unmapped;
};

void row(const char* name, const std::vector<double>& v) {
  std::printf("  %-34s median %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", name, pct(v, .5), pct(v, .99),
              pct(v, 1.0));
}

void print(const char* what, const samples& s) {
  std::printf("%s: %zu swaps\n", what, s.total.size());
  row("rename -> first call by new version", s.total);
  row("rename -> publish", s.to_publish);
  row("  event (rename -> inotify read)", s.event);
  row("  check (watcher: completeness)", s.check);
  row("  queued (callback -> worker start)", s.queued);
  row("  stage", s.stage);
  row("  preflight", s.preflight);
  row("  load", s.load);
  row("  migrate", s.migrate);
  row("  publish", s.publish);
  row("  call (publish -> first new call)", s.call);
  std::printf("  after publish, callers busy:\n");
  row("  grace period", s.grace);
  row("  unload", s.unload);
  row("  publish -> old image unmapped", s.unmapped);
}

// What the watcher and the engine report about the swap in flight (one at a time).
struct swap_record {
  clock_type::time_point observed, callback, published, unmapped;
  livemod::swap_timings timings;
  bool swapped = false, unloaded = false;
  livemod::swap_timings unload_timings;
};
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200;
  const int m = argc > 2 ? std::atoi(argv[2]) : 10;
  // The watched dir: under $LIVEMOD_BENCH_DIR (default /tmp).
  const char* base = std::getenv("LIVEMOD_BENCH_DIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/livemod-swap-bench-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return 1;
  const fs::path dir = tmpl;

  std::mutex mu;
  swap_record rec;
  livemod::live_options o;
  o.interface_id = COUNTER_API_ID;
  // Where versions are staged: live_options' default ($TMPDIR or /tmp) unless
  // $LIVEMOD_BENCH_SHADOW names a directory (to compare file systems).
  if (const char* shadow = std::getenv("LIVEMOD_BENCH_SHADOW"); shadow && *shadow) {
    o.shadow_dir = fs::path(shadow) / ("livemod-swap-bench-shadow-" + std::to_string(::getpid()));
  }
  o.on_event = [&](const livemod::live_event& e) {
    const auto now = clock_type::now();
    std::lock_guard lock(mu);
    if (e.kind == livemod::live_event_kind::swapped) {
      rec.timings = e.timings;
      rec.swapped = true;
    } else if (e.kind == livemod::live_event_kind::unloaded) {
      rec.unload_timings = e.timings;
      rec.unmapped = now;
      rec.unloaded = true;
    }
  };
  auto created = livemod::live_module::create(o);
  if (!created) {
    std::fprintf(stderr, "%s\n", created.error().message().c_str());
    return 1;
  }
  livemod::live_module& mod = **created;
  const fs::path v1 = fs::path(LIVEMOD_BENCH_BUILDS) / "counter_v1/libcounter.so";
  const fs::path v2 = fs::path(LIVEMOD_BENCH_BUILDS) / "counter_v2/libcounter.so";
  const fs::path target = dir / "libcounter.so";
  fs::copy_file(v1, target);
  if (!mod.swap_to(target)) return 1;

  // Callers: each notes when it first sees a build other than the last one it saw; the main
  // thread sleeps on `seen` (a futex), so it takes no CPU from the swap it is timing.
  std::atomic<int> seen{100};
  std::atomic<clock_type::rep> seen_at{0};
  std::atomic<bool> stop_callers{false};
  auto caller_loop = [&] {
    livemod::live<counter_api> h(mod);
    int last = seen.load();
    while (!stop_callers.load(std::memory_order_relaxed)) {
      auto r = h.call([](const counter_api& a) { return a.build(); });
      if (r && *r != last) {
        clock_type::rep now = clock_type::now().time_since_epoch().count();
        last = *r;
        int expected = seen.load();
        if (expected != last) {
          // The first caller to see the new build sets the time; a later one finds it set.
          clock_type::rep unset = 0;
          seen_at.compare_exchange_strong(unset, now);
          if (seen.compare_exchange_strong(expected, last)) seen.notify_all();
        }
      }
    }
  };
  std::vector<std::thread> callers;
  auto set_callers = [&](std::size_t count) {
    stop_callers = true;
    for (auto& t : callers) t.join();
    callers.clear();
    stop_callers = false;
    for (std::size_t i = 0; i < count; ++i) callers.emplace_back(caller_loop);
  };

  livemod::watch_options w;
  w.dirs = {dir};
  auto watcher = livemod::module_watcher::start(w, [&](const livemod::watch_event& e) {
    if (e.kind != livemod::watch_event_kind::changed) return;
    {
      std::lock_guard lock(mu);
      rec.observed = e.observed_at;
      rec.callback = clock_type::now();
    }
    mod.request_swap(e.path, {true});
  });
  if (!watcher) return 1;

  samples s;
  auto one_swap = [&](const fs::path& from, int build, bool fresh_bytes, int i) {
    const fs::path tmp = dir / ".libcounter.so.tmp";
    fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
    if (fresh_bytes) {
      std::ofstream(tmp, std::ios::app | std::ios::binary) << "pad" << i;  // new bytes, same ELF
    }
    {
      std::lock_guard lock(mu);
      rec = {};
    }
    const int before = seen.load();
    seen_at = 0;
    const auto renamed = clock_type::now();
    fs::rename(tmp, target);
    seen.wait(before);
    const auto served = clock_type::time_point(clock_type::duration(seen_at.load()));
    mod.wait_idle();
    std::lock_guard lock(mu);
    if (seen.load() != build || !rec.swapped || !rec.unloaded) {
      std::fprintf(stderr, "swap %d: expected build %d, saw %d\n", i, build, seen.load());
      std::exit(1);
    }
    const auto start = rec.timings.published_at - rec.timings.to_publish();
    s.total.push_back(ms(served - renamed));
    s.to_publish.push_back(ms(rec.timings.published_at - renamed));
    s.event.push_back(ms(rec.observed - renamed));
    s.check.push_back(ms(rec.callback - rec.observed));
    s.queued.push_back(ms(start - rec.callback));
    s.stage.push_back(ms(rec.timings.stage));
    s.preflight.push_back(ms(rec.timings.preflight));
    s.load.push_back(ms(rec.timings.load));
    s.migrate.push_back(ms(rec.timings.migrate));
    s.publish.push_back(ms(rec.timings.publish));
    s.call.push_back(ms(served - rec.timings.published_at));
    s.grace.push_back(ms(rec.unload_timings.grace));
    s.unload.push_back(ms(rec.unload_timings.unload));
    s.unmapped.push_back(ms(rec.unmapped - rec.timings.published_at));
  };

  // One run of `count` swaps; the host's steal time over it goes with its tail.
  auto run = [&](const char* title, int count, bool fresh_bytes) {
    if (count <= 0) return;
    s = {};
    const double steal_before = steal_ms();
    for (int i = 0; i < count; ++i)
      one_swap(i % 2 ? v1 : v2, i % 2 ? 100 : 200, fresh_bytes, fresh_bytes ? i + 1 : i);
    print(title, s);
    std::printf("  host steal time over the run (vCPUs taken by the host): %.0f ms\n",
                steal_ms() - steal_before);
  };

  set_callers(1);
  // Warm up: both builds checked once.
  one_swap(v2, 200, false, 0);
  one_swap(v1, 100, false, 0);
  run("1 busy caller, builds already checked (cached preflight verdict)", n, false);

  set_callers(2);
  run("2 busy callers, builds already checked (cached preflight verdict)", n, false);

  set_callers(1);
  run("1 busy caller, bytes never seen (full check() each)", m, true);

  set_callers(0);
  watcher->stop();
  created->reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
