// Hot swap under load, two harnesses (bench/RESULTS.md, "## hot swap"):
//
//   livemod_swap_soak_bench latency [seconds=1] [rounds=5] [callers=1] [swaps_per_second=0]
//     Caller threads time every call through live<counter_api> (rdtsc on x86-64, steady_clock
//     elsewhere) into histograms, in alternating phases of `seconds`: no swaps, then a driver
//     thread swapping between two builds (swap_to, v1 <-> v2), `rounds` times, so both
//     conditions see the same machine. The driver swaps back to back (0), or starts one swap
//     every 1/swaps_per_second: each swap costs the callers a fixed number of slow calls, so
//     the p99.9 depends on the rate, and this shows up to which rate it holds. Prints
//     p50/p99/p99.9/p99.99/max per condition and the ratio; every call must return build 100
//     or 200. Then where the calls slower than twice the quiet p99.9 fall while swapping: by
//     how many calls the caller had made since it first saw the version (the first call of a
//     version, its probation calls, later ones) and how slow they were, per swap; the
//     process's interrupts per swap (TLB shootdowns and function-call IPIs from
//     /proc/interrupts: membarrier, munmap and mprotect send them); how often the callers were
//     preempted or took a page fault; and the host's steal time in each condition.
//
//   livemod_swap_soak_bench memory [swaps=10000] [every=1000]
//     The event-driven path (a build renamed into a watched dir, module_watcher, request_swap)
//     with one busy caller, sampling RSS, the lines of /proc/self/maps, the open descriptors and
//     the files in the shadow dir every `every` swaps: all must stay flat.
//
// Environment: LIVEMOD_BENCH_PROBATION=N sets live_options::probation_calls (default 100: the
// first 100 calls of each new version are crash-guarded).
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "counter_api.h"
#include "livemod/live.h"
#include "livemod/watch.h"
#include "steal_time.h"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

const fs::path k_v1 = fs::path(LIVEMOD_BENCH_BUILDS) / "counter_v1/libcounter.so";
const fs::path k_v2 = fs::path(LIVEMOD_BENCH_BUILDS) / "counter_v2/libcounter.so";

// Ticks: TSC cycles on x86-64 (a few ns to read, no system call), steady_clock ns elsewhere.
inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(clock_type::now().time_since_epoch().count());
#endif
}

// Exact counts below 2^16 ticks, then one bucket per power of two. Aligned to a cache line so
// two callers' histograms never share one (each caller writes its own on every call).
struct alignas(64) histogram {
  static constexpr std::size_t k_exact = 1u << 16;
  std::vector<std::uint64_t> exact = std::vector<std::uint64_t>(k_exact);
  std::array<std::uint64_t, 64> log2{};
  std::uint64_t count = 0, max = 0;

  void add(std::uint64_t t) noexcept {
    ++count;
    max = std::max(max, t);
    if (t < k_exact) {
      ++exact[t];
    } else {
      ++log2[63 - static_cast<std::size_t>(__builtin_clzll(t))];
    }
  }
  void merge(const histogram& o) {
    for (std::size_t i = 0; i < k_exact; ++i) exact[i] += o.exact[i];
    for (std::size_t i = 0; i < log2.size(); ++i) log2[i] += o.log2[i];
    count += o.count;
    max = std::max(max, o.max);
  }
  // How many samples are at or below t (t below 2^16: exact).
  std::uint64_t rank(std::uint64_t t) const {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i <= t && i < k_exact; ++i) n += exact[i];
    return n;
  }
  // The same for any t, counting a power-of-two bucket above 2^16 once its upper edge is <= t.
  std::uint64_t rank_upto(std::uint64_t t) const {
    std::uint64_t n = rank(t);
    for (std::size_t i = 16; i < log2.size(); ++i)
      if ((std::uint64_t{2} << i) - 1 <= t) n += log2[i];
    return n;
  }
  // The smallest value with at least p of the samples at or below it (the upper edge of a
  // power-of-two bucket above 2^16).
  std::uint64_t quantile(double p) const {
    if (count == 0) return 0;
    const auto want = static_cast<std::uint64_t>(p * static_cast<double>(count) + 0.5);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < k_exact; ++i) {
      seen += exact[i];
      if (seen >= want && seen > 0) return i;
    }
    for (std::size_t i = 0; i < log2.size(); ++i) {
      seen += log2[i];
      if (seen >= want) return std::min(max, (std::uint64_t{2} << i) - 1);
    }
    return max;
  }
};

std::uint32_t probation_from_env() {
  const char* p = std::getenv("LIVEMOD_BENCH_PROBATION");
  return p && *p ? static_cast<std::uint32_t>(std::strtoul(p, nullptr, 10)) : 100u;
}

std::unique_ptr<livemod::live_module> make_module(std::function<void(const livemod::live_event&)> on_event) {
  livemod::live_options o;
  o.interface_id = COUNTER_API_ID;
  o.probation_calls = probation_from_env();
  o.on_event = std::move(on_event);
  auto created = livemod::live_module::create(o);
  if (!created) {
    std::fprintf(stderr, "%s\n", created.error().message().c_str());
    std::exit(1);
  }
  return std::move(*created);
}

fs::path make_temp_dir() {
  char tmpl[] = "/tmp/livemod-soak-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return tmpl;
}

// ---- latency ----------------------------------------------------------------------------------

// Where a call falls after a version change, as seen by the caller: the first call that
// returned the new build, the next, and so on; probation covers the first probation_calls.
constexpr std::array<const char*, 6> k_position_names = {"1st", "2nd", "3-10", "11-100",
                                                         "101-1000", "later"};
inline std::size_t position_bucket(std::uint64_t calls_before) noexcept {
  if (calls_before == 0) return 0;
  if (calls_before == 1) return 1;
  if (calls_before < 10) return 2;
  if (calls_before < 100) return 3;
  if (calls_before < 1000) return 4;
  return 5;
}

// This thread's involuntary context switches (preempted by another thread) and page faults so
// far.
std::array<long, 2> switches_and_faults() {
  struct rusage u {};
  if (::getrusage(RUSAGE_THREAD, &u) != 0) return {0, 0};
  return {u.ru_nivcsw, u.ru_minflt + u.ru_majflt};
}

// TLB shootdowns and function-call interrupts received by all CPUs so far (0 where
// /proc/interrupts has no such lines).
std::array<std::uint64_t, 2> interrupt_counts() {
  std::array<std::uint64_t, 2> out{};
  std::ifstream in("/proc/interrupts");
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    const int which = name == "TLB" ? 0 : name == "CAL" ? 1 : -1;
    if (which < 0) continue;
    const char* p = line.c_str() + colon + 1;
    for (;;) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(p, &end, 10);
      if (end == p) break;
      out[static_cast<std::size_t>(which)] += v;
      p = end;
    }
  }
  return out;
}

int run_latency(double seconds, int rounds, int callers, double swaps_per_second) {
  const fs::path dir = make_temp_dir();
  // Two source files, so each swap_to stages the other build (the verdict cache knows both).
  const fs::path a = dir / "libcounter_a.so", b = dir / "libcounter_b.so";
  fs::copy_file(k_v1, a);
  fs::copy_file(k_v2, b);
  std::atomic<std::uint64_t> unload_incomplete{0};
  auto mod = make_module([&](const livemod::live_event& e) {
    if (e.kind == livemod::live_event_kind::unload_incomplete) ++unload_incomplete;
  });
  if (!mod->swap_to(a)) return 1;
  if (!mod->swap_to(b)) return 1;  // both builds checked once
  if (!mod->swap_to(a, {true})) return 1;

  // 0: quiet, 1: swapping, 2: stop. Callers read it (a load of a line nobody writes often).
  std::atomic<int> phase{0};
  std::atomic<std::uint64_t> wrong{0}, swaps{0}, failed{0};
  // Callers' involuntary context switches and page faults, by phase.
  std::array<std::atomic<std::uint64_t>, 2> preempted{}, faulted{};
  // Per caller: [0] no swaps, [1 + position_bucket] swapping.
  std::vector<std::array<histogram, 1 + k_position_names.size()>> hist(
      static_cast<std::size_t>(callers));
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      livemod::live<counter_api> h(*mod);
      auto& mine = hist[static_cast<std::size_t>(c)];
      std::uint64_t bad = 0, since_change = 0;
      std::int32_t last = 0;
      int last_phase = 0;
      std::array<long, 2> before = switches_and_faults();
      for (;;) {
        const int ph = phase.load(std::memory_order_relaxed);
        if (ph != last_phase) {
          const std::array<long, 2> now = switches_and_faults();
          const auto was = static_cast<std::size_t>(last_phase);
          preempted[was] += static_cast<std::uint64_t>(now[0] - before[0]);
          faulted[was] += static_cast<std::uint64_t>(now[1] - before[1]);
          before = now;
          last_phase = ph;
        }
        if (ph == 2) break;
        const std::uint64_t t0 = ticks();
        auto r = h.call([](const counter_api& api) { return api.build(); });
        const std::uint64_t t1 = ticks();
        const std::int32_t build = r ? *r : -1;
        if (build != last) since_change = 0;
        last = build;
        mine[ph == 0 ? 0 : 1 + position_bucket(since_change)].add(t1 - t0);
        ++since_change;
        if (build != 100 && build != 200) ++bad;
      }
      wrong += bad;
    });
  }
  std::thread driver([&] {
    bool to_b = true;
    // Paced: the next swap starts at a fixed time, however long the last one took.
    const auto period = std::chrono::duration_cast<clock_type::duration>(
        std::chrono::duration<double>(swaps_per_second > 0 ? 1.0 / swaps_per_second : 0.0));
    auto next = clock_type::now();
    for (;;) {
      const int ph = phase.load();
      if (ph == 2) break;
      if (ph == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        next = clock_type::now();
        continue;
      }
      if (period.count() > 0) {
        next += period;
        std::this_thread::sleep_until(next);
      }
      if (mod->swap_to(to_b ? b : a, {true})) {
        ++swaps;
      } else {
        ++failed;
      }
      to_b = !to_b;
    }
  });

  // Calibrate ticks against the steady clock over the whole run.
  const auto c0 = clock_type::now();
  const std::uint64_t k0 = ticks();
  const auto phase_time = std::chrono::duration<double>(seconds);
  std::array<std::array<std::uint64_t, 2>, 2> interrupts{};  // [phase][TLB, CAL]
  std::array<double, 2> stolen{};                             // [phase] host steal, ms
  auto count_interrupts = [&](int ph, const std::array<std::uint64_t, 2>& from) {
    const auto now = interrupt_counts();
    for (std::size_t i = 0; i < 2; ++i)
      interrupts[static_cast<std::size_t>(ph)][i] += now[i] - from[i];
  };
  for (int r = 0; r < rounds; ++r) {
    auto from = interrupt_counts();
    double steal_from = steal_ms();
    phase = 0;
    std::this_thread::sleep_for(phase_time);
    count_interrupts(0, from);
    stolen[0] += steal_ms() - steal_from;
    from = interrupt_counts();
    steal_from = steal_ms();
    phase = 1;
    std::this_thread::sleep_for(phase_time);
    count_interrupts(1, from);
    stolen[1] += steal_ms() - steal_from;
  }
  phase = 2;
  driver.join();
  for (auto& t : threads) t.join();
  const double ns_per_tick =
      std::chrono::duration<double, std::nano>(clock_type::now() - c0).count() /
      static_cast<double>(ticks() - k0);

  std::array<histogram, 2> all;
  std::array<histogram, k_position_names.size()> by_position;
  for (auto& h : hist) {
    all[0].merge(h[0]);
    for (std::size_t i = 0; i < by_position.size(); ++i) {
      all[1].merge(h[1 + i]);
      by_position[i].merge(h[1 + i]);
    }
  }
  const double swap_seconds = seconds * rounds;
  std::printf("caller latency, %d caller thread(s), %d rounds of %.1f s quiet + %.1f s swapping "
              "(%s), probation_calls %u\n",
              callers, rounds, seconds, seconds,
              swaps_per_second > 0 ? "paced" : "back to back",
              probation_from_env());
  std::printf("  swaps %llu (%.0f/s while swapping), failed swaps %llu, wrong answers %llu, "
              "unload_incomplete %llu\n",
              static_cast<unsigned long long>(swaps.load()),
              static_cast<double>(swaps.load()) / swap_seconds,
              static_cast<unsigned long long>(failed.load()),
              static_cast<unsigned long long>(wrong.load()),
              static_cast<unsigned long long>(unload_incomplete.load()));
  std::printf("  %-10s %12s %9s %9s %9s %9s %11s\n", "condition", "calls", "p50 ns", "p99 ns",
              "p99.9 ns", "p99.99 ns", "max ns");
  const char* names[2] = {"no swaps", "swapping"};
  for (std::size_t i = 0; i < 2; ++i) {
    const histogram& h = all[i];
    auto ns = [&](std::uint64_t t) { return static_cast<double>(t) * ns_per_tick; };
    std::printf("  %-10s %12llu %9.1f %9.1f %9.1f %9.1f %11.0f\n", names[i],
                static_cast<unsigned long long>(h.count), ns(h.quantile(.5)), ns(h.quantile(.99)),
                ns(h.quantile(.999)), ns(h.quantile(.9999)), ns(h.max));
  }
  auto ratio = [&](double p) {
    const double q = static_cast<double>(all[0].quantile(p));
    return q > 0 ? static_cast<double>(all[1].quantile(p)) / q : 0.0;
  };
  std::printf("  swapping / no swaps: p50 %.2fx  p99 %.2fx  p99.9 %.2fx  p99.99 %.2fx\n", ratio(.5),
              ratio(.99), ratio(.999), ratio(.9999));
  // The calls that move the p99.9: slower than twice the quiet one, and where they fall.
  const std::uint64_t slow = 2 * all[0].quantile(.999);
  const double per_swap = swaps.load() ? 1.0 / static_cast<double>(swaps.load()) : 0.0;
  auto percent_above = [&](const histogram& h) {
    if (h.count == 0) return 0.0;
    return 100.0 * static_cast<double>(h.count - h.rank(slow)) / static_cast<double>(h.count);
  };
  std::printf("  calls > %.0f ns (2x quiet p99.9): %.3f%% with no swaps, %.3f%% while swapping "
              "(%llu); per swap, by the caller's calls into the version:\n   ",
              static_cast<double>(slow) * ns_per_tick, percent_above(all[0]), percent_above(all[1]),
              0ULL + (all[1].count - all[1].rank(slow)));
  for (std::size_t i = 0; i < by_position.size(); ++i)
    std::printf(" %s %.2f (of %.1f, p50 %.0f ns)", k_position_names[i],
                static_cast<double>(by_position[i].count - by_position[i].rank(slow)) * per_swap,
                static_cast<double>(by_position[i].count) * per_swap,
                static_cast<double>(by_position[i].quantile(.5)) * ns_per_tick);
  // And how slow: a cache or TLB miss costs tens to hundreds of ns, an interrupt microseconds,
  // being descheduled more.
  const double tick_ns = ns_per_tick;
  auto ticks_for = [&](double ns) {
    return std::max(slow, static_cast<std::uint64_t>(ns / tick_ns));
  };
  const std::array<std::uint64_t, 4> edges = {ticks_for(250), ticks_for(1000), ticks_for(10000),
                                              ~std::uint64_t{0}};
  const std::array<const char*, 4> edge_names = {"<= 250 ns", "<= 1 us", "<= 10 us", "more"};
  std::printf("\n    by duration, per swap:");
  std::uint64_t below = all[1].rank(slow);
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const std::uint64_t upto = i + 1 < edges.size() ? all[1].rank_upto(edges[i]) : all[1].count;
    std::printf(" %s %.2f", edge_names[i], static_cast<double>(upto - below) * per_swap);
    below = upto;
  }
  std::printf("\n  interrupts per second, no swaps: TLB %.0f, CAL %.0f; while swapping: TLB %.0f, "
              "CAL %.0f = %.2f + %.2f per swap\n",
              static_cast<double>(interrupts[0][0]) / swap_seconds,
              static_cast<double>(interrupts[0][1]) / swap_seconds,
              static_cast<double>(interrupts[1][0]) / swap_seconds,
              static_cast<double>(interrupts[1][1]) / swap_seconds,
              static_cast<double>(interrupts[1][0]) * per_swap,
              static_cast<double>(interrupts[1][1]) * per_swap);
  std::printf("  callers, per second with no swaps and while swapping (= per swap): preempted "
              "%.0f, %.0f (= %.2f); page faults %.0f, %.0f (= %.2f)\n",
              static_cast<double>(preempted[0].load()) / swap_seconds,
              static_cast<double>(preempted[1].load()) / swap_seconds,
              static_cast<double>(preempted[1].load()) * per_swap,
              static_cast<double>(faulted[0].load()) / swap_seconds,
              static_cast<double>(faulted[1].load()) / swap_seconds,
              static_cast<double>(faulted[1].load()) * per_swap);
  std::printf("  host steal time (vCPUs taken by the host): %.0f ms with no swaps, %.0f ms while "
              "swapping\n",
              stolen[0], stolen[1]);
  mod.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return wrong.load() == 0 && failed.load() == 0 ? 0 : 1;
}

// ---- memory -----------------------------------------------------------------------------------

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

long count_lines(const char* path) {
  std::ifstream in(path);
  std::string line;
  long n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

long count_entries(const fs::path& dir) {
  long n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

int run_memory(int total, int every) {
  const fs::path dir = make_temp_dir();
  const fs::path target = dir / "libcounter.so";
  std::atomic<std::uint64_t> done{0}, refused{0}, incomplete{0};
  auto mod = make_module([&](const livemod::live_event& e) {
    using k = livemod::live_event_kind;
    if (e.kind == k::refused) ++refused;
    if (e.kind == k::unload_incomplete) ++incomplete;
    // The swap is over when its old version is retired, one way or the other.
    if (e.kind == k::unloaded || e.kind == k::unload_incomplete || e.kind == k::refused) {
      done.fetch_add(1);
      done.notify_all();
    }
  });
  fs::copy_file(k_v1, target);
  if (!mod->swap_to(target)) return 1;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> calls{0}, wrong{0};
  std::thread caller([&] {
    livemod::live<counter_api> h(*mod);
    std::uint64_t n = 0, bad = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      auto r = h.call([](const counter_api& api) { return api.build(); });
      if (!r || (*r != 100 && *r != 200)) ++bad;
      ++n;
    }
    calls = n;
    wrong = bad;
  });
  livemod::watch_options w;
  w.dirs = {dir};
  auto watcher = livemod::module_watcher::start(w, [&](const livemod::watch_event& e) {
    if (e.kind == livemod::watch_event_kind::changed) mod->request_swap(e.path, {true});
  });
  if (!watcher) return 1;

  const fs::path shadow = mod->shadow_dir();
  std::printf("memory and mappings, %d event-driven swaps (rename into a watched dir), 1 busy "
              "caller, sampled every %d\n",
              total, every);
  std::printf("  %8s %10s %10s %8s %12s %9s\n", "swaps", "RSS KiB", "maps lines", "fds",
              "shadow files", "seconds");
  const auto t0 = clock_type::now();
  auto sample = [&](int i) {
    std::printf("  %8d %10ld %10ld %8ld %12ld %9.1f\n", i, rss_kib(), count_lines("/proc/self/maps"),
                count_entries("/proc/self/fd"), count_entries(shadow),
                std::chrono::duration<double>(clock_type::now() - t0).count());
    std::fflush(stdout);
  };
  sample(0);
  for (int i = 1; i <= total; ++i) {
    const fs::path tmp = dir / ".libcounter.so.tmp";
    fs::copy_file(i % 2 ? k_v2 : k_v1, tmp, fs::copy_options::overwrite_existing);
    const std::uint64_t before = done.load();
    fs::rename(tmp, target);
    done.wait(before);
    if (i % every == 0) sample(i);
  }
  watcher->stop();
  stop = true;
  caller.join();
  const livemod::live_stats st = mod->stats();
  std::printf("  swaps %llu, refused %llu, unload_incomplete %llu, coalesced %llu; caller: %llu "
              "calls, %llu wrong\n",
              static_cast<unsigned long long>(st.swaps), static_cast<unsigned long long>(refused.load()),
              static_cast<unsigned long long>(incomplete.load()),
              static_cast<unsigned long long>(st.coalesced),
              static_cast<unsigned long long>(calls.load()),
              static_cast<unsigned long long>(wrong.load()));
  mod.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return refused.load() == 0 && incomplete.load() == 0 && wrong.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "latency") {
    return run_latency(argc > 2 ? std::atof(argv[2]) : 1.0, argc > 3 ? std::atoi(argv[3]) : 5,
                       argc > 4 ? std::atoi(argv[4]) : 1, argc > 5 ? std::atof(argv[5]) : 0.0);
  }
  if (mode == "memory") {
    return run_memory(argc > 2 ? std::atoi(argv[2]) : 10000, argc > 3 ? std::atoi(argv[3]) : 1000);
  }
  std::fprintf(stderr,
               "usage: livemod_swap_soak_bench latency [seconds] [rounds] [callers] [swaps_per_second]\n"
               "       livemod_swap_soak_bench memory [swaps] [every]\n");
  return 2;
}
