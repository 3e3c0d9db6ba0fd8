// The live objects demo (the seed of docs/objects.md): two objects of IBase made by module
// v1 (a = 2008), Hello on one and Foo on the other, a swap to v2 (which adds b = 77), then
// Hello/Foo again: each object is converted on its first call (the converter prints once per
// object), a is still 2008, and later calls go straight to v2. v1's image is unloaded when
// its last object has been converted.
//   objects_demo [thunk|portable] [BUILDS_DIR]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>

#include "livemod/live.h"
#include "livemod/object.h"
#include "seed_api.h"

namespace {

int die(const livemod::error& e) {
  std::printf("error: %s\n", e.describe().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // the module prints to the same stdout
  livemod::object_options oo;
  if (argc > 1 && std::strcmp(argv[1], "portable") == 0) oo.mode = livemod::conversion_mode::portable;
  if (argc > 1 && std::strcmp(argv[1], "thunk") == 0) oo.mode = livemod::conversion_mode::thunk;
  std::filesystem::path builds = argc > 2 ? argv[2] : SEED_BUILDS;

  std::mutex mu;
  std::string unloaded;
  auto objects = livemod::object_runtime::create(oo);
  if (!objects) return die(objects.error());
  livemod::live_options lo;
  lo.interface_id = LIVEMOD_CLASSES_API_ID;
  lo.participant = (*objects)->participant();
  lo.on_event = [&](const livemod::live_event& e) {
    std::lock_guard lock(mu);
    if (e.kind == livemod::live_event_kind::unloaded) unloaded += " " + e.from_version;
  };
  auto mod = livemod::live_module::create(lo);
  if (!mod) return die(mod.error());

  std::printf("live objects demo, %s mode\n",
              std::string(livemod::to_string((*objects)->mode())).c_str());
  if (auto r = (*mod)->swap_to(builds / "seed_v1" / "libseed.so"); !r) return die(r.error());
  std::printf("seed %s serves\n", (*mod)->current_version().c_str());
  {
    auto x = (*objects)->create<IBase>(seed_base_class);
    auto y = (*objects)->create<IBase>(seed_base_class);
    if (!x) return die(x.error());
    if (!y) return die(y.error());
    std::printf("x.Hello()\n");
    (*x)->Hello();
    std::printf("y.Foo()\n");
    (*y)->Foo();

    if (auto r = (*mod)->swap_to(builds / "seed_v2" / "libseed.so"); !r) return die(r.error());
    std::printf("seed %s serves; %llu objects live, %llu converted\n",
                (*mod)->current_version().c_str(),
                static_cast<unsigned long long>((*objects)->live_objects()),
                static_cast<unsigned long long>((*objects)->stats().converted));
    std::printf("x.Hello()\n");
    int a = (*x)->Hello();
    std::printf("y.Foo()\n");
    int b = (*y)->Foo();
    std::printf("x.Foo()\n");
    (*x)->Foo();
    std::printf("y.Hello()\n");
    (*y)->Hello();
    std::printf("a=%d b=%d, %llu objects converted\n", a, b,
                static_cast<unsigned long long>((*objects)->stats().converted));
  }
  (*mod)->wait_idle();
  {
    std::lock_guard lock(mu);
    std::printf("unloaded:%s\n", unloaded.empty() ? " (none)" : unloaded.c_str());
  }
  return 0;
}
