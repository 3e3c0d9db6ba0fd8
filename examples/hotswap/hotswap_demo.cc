// The hot-swap demo: two caller threads call the module "counter" without pause while its
// file is replaced under them, driven by the file watcher as a build would drive it:
//   v1 -> v2 (state carried), v3 crashes on its first call (rolled back automatically),
//   v4 changed its interface (refused at preflight), v2.1 rebuilt at the same path (picked up).
// At the end: calls made and failed, swaps, rollbacks, swap latency, and the old images gone.
//   hotswap_demo [BUILDS_DIR]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
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

std::mutex mu;
std::condition_variable cv;
std::vector<livemod::live_event> events;

double ms(clock_type::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Copies a build into the watched dir the way a build tool does: write beside, rename over.
void install(const fs::path& builds, const char* build, const fs::path& dir) {
  fs::copy_file(builds / build / "libcounter.so", dir / ".libcounter.so.tmp",
                fs::copy_options::overwrite_existing);
  fs::rename(dir / ".libcounter.so.tmp", dir / "libcounter.so");
}

// Waits for the next event of one of `kinds` after `seen` events.
livemod::live_event wait_for(std::size_t& seen, std::initializer_list<livemod::live_event_kind> kinds) {
  std::unique_lock lock(mu);
  for (;;) {
    for (; seen < events.size(); ++seen)
      if (std::find(kinds.begin(), kinds.end(), events[seen].kind) != kinds.end())
        return events[seen++];
    if (!cv.wait_for(lock, std::chrono::seconds(20), [&] { return seen < events.size(); })) {
      std::fprintf(stderr, "hotswap_demo: no event within 20 s\n");
      std::exit(1);
    }
  }
}

std::size_t mapped_images(const fs::path& shadow) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::vector<std::string> files;
  while (std::getline(maps, line)) {
    auto at = line.find(shadow.string());
    if (at != std::string::npos) files.push_back(line.substr(at));
  }
  std::sort(files.begin(), files.end());
  return static_cast<std::size_t>(std::unique(files.begin(), files.end()) - files.begin());
}

}  // namespace

int main(int argc, char** argv) {
  fs::path builds = argc > 1 ? argv[1] : HOTSWAP_BUILDS;
  char tmpl[] = "/tmp/livemod-demo-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  fs::path dir = tmpl;

  livemod::live_options options;
  options.interface_id = COUNTER_API_ID;
  options.probation_calls = 1000;
  options.on_event = [](const livemod::live_event& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
    cv.notify_all();
  };
  auto created = livemod::live_module::create(options);
  if (!created) {
    std::fprintf(stderr, "%s\n", created.error().describe().c_str());
    return 1;
  }
  livemod::live_module& mod = **created;
  livemod::live<counter_api> counter(mod);

  install(builds, "counter_v1", dir);
  if (auto r = mod.swap_to(dir / "libcounter.so"); !r) {
    std::fprintf(stderr, "%s\n", r.error().describe().c_str());
    return 1;
  }
  std::size_t seen = events.size();

  // Two callers, as a server's request threads; they count what they saw.
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> calls{0};
  std::mutex failures_mu;
  std::map<std::string, std::uint64_t> failures;
  std::atomic<int> last_build{0};
  std::atomic<clock_type::rep> first_seen[4] = {};  // per build index: first call served by it
  auto build_index = [](int build) { return build == 200 ? 0 : build == 300 ? 1 : build == 201 ? 2 : 3; };
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t)
    callers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto r = counter.call([](const counter_api& api) {
          api.handle();
          return api.build();
        });
        calls.fetch_add(1, std::memory_order_relaxed);
        if (!r) {
          std::lock_guard lock(failures_mu);
          ++failures[std::string(livemod::to_string(r.error().code()))];
          continue;
        }
        last_build.store(*r, std::memory_order_relaxed);
        clock_type::rep zero = 0;
        first_seen[build_index(*r)].compare_exchange_strong(
            zero, clock_type::now().time_since_epoch().count(), std::memory_order_relaxed);
      }
    });
  auto requests = [&] {
    auto s = counter.scope();
    return s ? s->handle() - 1 : -1;  // the probe itself is not a request to count
  };

  livemod::module_watcher::callback on_file = [&](const livemod::watch_event& e) {
    if (e.kind == livemod::watch_event_kind::changed) mod.request_swap(e.path);
  };
  livemod::watch_options w;
  w.dirs = {dir};
  auto watcher = livemod::module_watcher::start(w, on_file);
  if (!watcher) {
    std::fprintf(stderr, "%s\n", watcher.error().describe().c_str());
    return 1;
  }
  std::vector<double> latencies;
  auto latency_of = [&](int build, clock_type::time_point renamed) {
    // The callers note the first call each build served; a swap has happened by now.
    for (int i = 0; i < 2000 && first_seen[build_index(build)].load() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto at = clock_type::time_point(clock_type::duration(first_seen[build_index(build)].load()));
    double l = ms(at - renamed);
    latencies.push_back(l);
    return l;
  };

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::printf("v1 serving: %llu requests handled so far (build %d)\n",
              static_cast<unsigned long long>(requests()), last_build.load());

  std::printf("\n1. install v2 (state_schema 1 -> 1, the request count must carry over)\n");
  auto renamed = clock_type::now();
  install(builds, "counter_v2", dir);
  auto e = wait_for(seen, {livemod::live_event_kind::swapped, livemod::live_event_kind::refused});
  double l = latency_of(200, renamed);
  std::printf("   %s %s -> %s; rename to first call served by v2: %.2f ms "
              "(stage %.2f, preflight %.2f, load %.2f, migrate %.2f, publish %.3f ms)\n",
              std::string(livemod::to_string(e.kind)).c_str(), e.from_version.c_str(),
              e.to_version.c_str(), l, ms(e.timings.stage), ms(e.timings.preflight),
              ms(e.timings.load), ms(e.timings.migrate), ms(e.timings.publish));
  std::printf("   requests right after the swap: %llu (carried, never reset to 0)\n",
              static_cast<unsigned long long>(requests()));

  std::printf("\n2. install v3, which crashes on its first call\n");
  install(builds, "counter_v3", dir);
  e = wait_for(seen, {livemod::live_event_kind::rolled_back, livemod::live_event_kind::refused});
  std::printf("   %s %s -> %s: %s\n", std::string(livemod::to_string(e.kind)).c_str(),
              e.from_version.c_str(), e.to_version.c_str(),
              e.cause ? e.cause->describe().c_str() : "");
  mod.wait_idle();
  std::printf("   serving %s again; requests: %llu\n", mod.current_version().c_str(),
              static_cast<unsigned long long>(requests()));

  std::printf("\n3. install v4, whose interface lost a method\n");
  install(builds, "counter_v4", dir);
  e = wait_for(seen, {livemod::live_event_kind::refused, livemod::live_event_kind::swapped});
  std::printf("   %s at %s: %s\n", std::string(livemod::to_string(e.kind)).c_str(),
              std::string(livemod::to_string(e.step)).c_str(),
              e.cause ? e.cause->describe().c_str() : "");
  std::printf("   still serving %s\n", mod.current_version().c_str());

  std::printf("\n4. rebuild at the same path: v2.1\n");
  renamed = clock_type::now();
  install(builds, "counter_v2_1", dir);
  e = wait_for(seen, {livemod::live_event_kind::swapped, livemod::live_event_kind::refused});
  l = latency_of(201, renamed);
  std::printf("   %s %s -> %s; rename to first call served: %.2f ms\n",
              std::string(livemod::to_string(e.kind)).c_str(), e.from_version.c_str(),
              e.to_version.c_str(), l);

  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& t : callers) t.join();
  watcher->stop();
  mod.wait_idle();

  livemod::live_stats s = mod.stats();
  std::printf("\nsummary\n");
  std::printf("  calls made:      %llu by 2 threads\n", static_cast<unsigned long long>(calls.load()));
  std::uint64_t failed = 0;
  for (const auto& [why, n] : failures) failed += n;
  std::printf("  calls failed:    %llu", static_cast<unsigned long long>(failed));
  for (const auto& [why, n] : failures)
    std::printf(" (%llu %s: v3's crash, caught by the guard)", static_cast<unsigned long long>(n),
                why.c_str());
  std::printf("\n  swaps:           %llu (the first load included), refused %llu\n",
              static_cast<unsigned long long>(s.swaps), static_cast<unsigned long long>(s.refused));
  std::printf("  rollbacks:       %llu\n", static_cast<unsigned long long>(s.rollbacks));
  std::sort(latencies.begin(), latencies.end());
  std::printf("  swap latency:    ");
  for (double x : latencies) std::printf("%.2f ms ", x);
  std::printf("(file rename to first call served)\n");
  std::printf("  old images:      %llu unloaded, %llu still mapped; images of this module "
              "mapped now: %zu (the current one)\n",
              static_cast<unsigned long long>(s.unloaded),
              static_cast<unsigned long long>(s.unload_incomplete), mapped_images(mod.shadow_dir()));
  bool ok = s.unload_incomplete == 0 && mapped_images(mod.shadow_dir()) == 1 && s.rollbacks == 1 &&
            mod.current_version() == "2.1.0";
  created->reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  std::printf("%s\n", ok ? "demo ok" : "demo FAILED");
  return ok ? 0 : 1;
}
