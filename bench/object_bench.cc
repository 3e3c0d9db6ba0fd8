// Live objects (bench/RESULTS.md, "## live objects"): a harness of interleaved rounds, since
// this machine is shared and the figures that matter are ratios measured side by side.
//   1. swap time with 0, 1,000 and 1,000,000 live objects (a swap must not walk the objects);
//   2. a call on a converted object vs the same virtual call on an object of the same module
//      opened with plain dlopen, without livemod;
//   3. the first call on an unconverted object (the conversion) vs a plain call.
//   livemod_object_bench [rounds]
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "livemod/live.h"
#include "livemod/object.h"
#include "objects_api.h"

namespace {

using clock_type = std::chrono::steady_clock;
using livemod::conversion_mode;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "object_bench: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T check(livemod::result<T> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().describe());
  return std::move(*r);
}

// A runtime and a live_module hosting "objs".
struct host {
  std::unique_ptr<livemod::object_runtime> rt;
  std::unique_ptr<livemod::live_module> mod;
  explicit host(conversion_mode mode) {
    livemod::object_options oo;
    oo.mode = mode;
    rt = check(livemod::object_runtime::create(oo), "runtime");
    livemod::live_options lo;
    lo.interface_id = LIVEMOD_CLASSES_API_ID;
    lo.participant = rt->participant();
    lo.probation_calls = 0;
    mod = check(livemod::live_module::create(lo), "live_module");
  }
  void swap(const char* path, bool force = false) {
    livemod::swap_flags f;
    f.force = force;
    (void)check(mod->swap_to(path, f), path);
  }
  livemod::object_ref<objs::ITest> make() {
    return check(rt->create<objs::ITest>(objs::test_class), "create");
  }
};

// Objects of v2 made without livemod: the module opened with dlopen, its factory called.
struct plain_module {
  void* handle = nullptr;
  const livemod_class_info* cls = nullptr;
  livemod_object_host h{};
  plain_module() {
    handle = dlopen(OBJS_V2, RTLD_NOW | RTLD_LOCAL);
    if (!handle) die(dlerror());
    auto get = reinterpret_cast<livemod_get_classes_fn>(dlsym(handle, LIVEMOD_GET_CLASSES_SYMBOL));
    if (!get) die("no class table");
    cls = &get()->classes[0];
    h.size = sizeof h;
    h.destroy = [](const livemod_object_host*, void* o) { delete static_cast<livemod::unknown*>(o); };
    h.destroyed = [](const livemod_object_host*, void*) {};
  }
  objs::ITest* make() {
    void* o = nullptr;
    if (cls->create(&h, &o) < 0) die("plain create");
    return static_cast<objs::ITest*>(static_cast<livemod::unknown*>(o));
  }
};

// ns per call of sum1 over `n` calls on one object, the pointer read through a volatile so
// the loop cannot be hoisted.
double call_ns(objs::ITest* const volatile* p, int n) {
  std::int64_t sink = 0;
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i) sink += (*p)->sum1(i);
  auto t1 = clock_type::now();
  if (sink == 42) std::puts("");
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
}

double ref_call_ns(const livemod::object_ref<objs::ITest>& r, int n) {
  std::int64_t sink = 0;
  auto t0 = clock_type::now();
  for (int i = 0; i < n; ++i) sink += r->sum1(i);
  auto t1 = clock_type::now();
  if (sink == 42) std::puts("");
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 7;
  const int counts[] = {0, 1000, 1000000};

  // --- 1. swap time by live objects (thunk mode; portable mode beside it)
  for (conversion_mode mode : {conversion_mode::thunk, conversion_mode::portable}) {
    if (mode == conversion_mode::thunk && !livemod::thunks_supported()) continue;
    host h(mode);
    std::vector<double> total[3], publish[3], steps[3][5];
    h.swap(OBJS_V1);
    for (int r = 0; r < rounds + 1; ++r) {
      for (int k = 0; k < 3; ++k) {
        std::vector<livemod::object_ref<objs::ITest>> objects;
        objects.reserve(static_cast<std::size_t>(counts[k]));
        for (int i = 0; i < counts[k]; ++i) objects.push_back(h.make());
        auto t0 = clock_type::now();
        auto timings = check(h.mod->swap_to(OBJS_V2), "swap to v2");
        auto t1 = clock_type::now();
        if (r > 0) {  // the first round fills the engine's preflight cache
          total[k].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
          publish[k].push_back(std::chrono::duration<double, std::micro>(timings.to_publish()).count());
          const std::chrono::nanoseconds parts[5] = {timings.stage, timings.preflight, timings.load,
                                                     timings.migrate, timings.publish};
          for (int s = 0; s < 5; ++s)
            steps[k][s].push_back(std::chrono::duration<double, std::micro>(parts[s]).count());
        }
        objects.clear();  // unconverted: destroyed by v1's code
        h.mod->wait_idle();
        h.swap(OBJS_V1, true);  // back, for the next measurement (no objects: no converter)
      }
    }
    std::printf("swap v1 -> v2, %s mode, median of %d rounds (us): to publish / whole swap_to\n",
                std::string(livemod::to_string(mode)).c_str(), rounds);
    for (int k = 0; k < 3; ++k)
      std::printf("  %8d live objects: %9.1f / %9.1f   ratio to 0: %.2f / %.2f   "
                  "(stage %.0f, preflight %.0f, load %.0f, migrate+prepare %.0f, publish %.0f)\n",
                  counts[k], median(publish[k]), median(total[k]),
                  median(publish[k]) / median(publish[0]), median(total[k]) / median(total[0]),
                  median(steps[k][0]), median(steps[k][1]), median(steps[k][2]),
                  median(steps[k][3]), median(steps[k][4]));
  }

  // --- 2. calls on converted objects vs a plain virtual call without livemod
  {
    plain_module plain;
    objs::ITest* plain_object = plain.make();
    const int n = 20000000;
    std::vector<double> t_plain, t_thunk, t_ref_portable, t_ref_thunk;
    std::unique_ptr<host> thunk_host, portable_host;
    livemod::object_ref<objs::ITest> thunk_obj, portable_obj;
    if (livemod::thunks_supported()) {
      thunk_host = std::make_unique<host>(conversion_mode::thunk);
      thunk_host->swap(OBJS_V1);
      thunk_obj = thunk_host->make();
      thunk_host->swap(OBJS_V2);
      (void)thunk_obj->sum1(0);  // converted
    }
    portable_host = std::make_unique<host>(conversion_mode::portable);
    portable_host->swap(OBJS_V1);
    portable_obj = portable_host->make();
    portable_host->swap(OBJS_V2);
    (void)portable_obj->sum1(0);
    objs::ITest* volatile p_plain = plain_object;
    objs::ITest* volatile p_thunk = thunk_obj ? thunk_obj.get() : plain_object;
    for (int r = 0; r < rounds * 2; ++r) {
      t_plain.push_back(call_ns(&p_plain, n));
      if (thunk_obj) t_thunk.push_back(call_ns(&p_thunk, n));
      if (thunk_obj) t_ref_thunk.push_back(ref_call_ns(thunk_obj, n));
      t_ref_portable.push_back(ref_call_ns(portable_obj, n));
    }
    double base = median(t_plain);
    std::printf("\ncalls of sum1 (ns per call, median of %d rounds of %d calls)\n", rounds * 2, n);
    std::printf("  plain virtual call, module opened with dlopen:   %.3f  1.00x\n", base);
    if (thunk_obj) {
      std::printf("  converted object, thunk mode, raw pointer:       %.3f  %.3fx\n",
                  median(t_thunk), median(t_thunk) / base);
      std::printf("  converted object, thunk mode, object_ref:        %.3f  %.3fx\n",
                  median(t_ref_thunk), median(t_ref_thunk) / base);
    }
    std::printf("  converted object, portable mode, object_ref:     %.3f  %.3fx\n",
                median(t_ref_portable), median(t_ref_portable) / base);
    plain_object->release();
  }

  // --- 3. the first call on an unconverted object (the conversion) vs a plain call
  {
    const int k = 100000;
    plain_module plain;
    std::vector<double> t_plain, t_first[2];
    for (int r = 0; r < rounds; ++r) {
      std::vector<objs::ITest*> ps;
      for (int i = 0; i < k; ++i) ps.push_back(plain.make());
      std::int64_t sink = 0;
      auto t0 = clock_type::now();
      for (objs::ITest* p : ps) sink += p->sum1(1);
      t_plain.push_back(std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / k);
      for (objs::ITest* p : ps) p->release();
      int m = 0;
      for (conversion_mode mode : {conversion_mode::thunk, conversion_mode::portable}) {
        if (mode == conversion_mode::thunk && !livemod::thunks_supported()) {
          ++m;
          continue;
        }
        host h(mode);
        h.swap(OBJS_V1);
        std::vector<livemod::object_ref<objs::ITest>> os;
        for (int i = 0; i < k; ++i) os.push_back(h.make());
        h.swap(OBJS_V2);
        auto t1 = clock_type::now();
        for (const auto& o : os) sink += o->sum1(1);
        t_first[m++].push_back(std::chrono::duration<double, std::nano>(clock_type::now() - t1).count() / k);
      }
      if (sink == 42) std::puts("");
    }
    double base = median(t_plain);
    std::printf("\nfirst call after a swap, over %d objects (ns per object, median of %d rounds)\n",
                k, rounds);
    std::printf("  plain call on a fresh object, no livemod:        %.1f  1.0x\n", base);
    if (!t_first[0].empty())
      std::printf("  first call, thunk mode (converts):               %.1f  %.1fx\n",
                  median(t_first[0]), median(t_first[0]) / base);
    std::printf("  first call, portable mode (converts):            %.1f  %.1fx\n",
                median(t_first[1]), median(t_first[1]) / base);
  }
  return 0;
}
