// The module "seed" of the objects demo, in two versions (SEED_VERSION): v1 keeps {int a},
// v2 keeps {int a; int b} and converts v1 objects (b = 77).
#include <cstdio>

#include "seed_api.h"

namespace {

struct data_v1 {
  int a = 2008;
};
struct data_v2 {
  int a = 2008;
  int b = 77;
};

#if SEED_VERSION == 1
class base final : public livemod::sdk::component<base, IBase, data_v1> {
 public:
  int Hello() override {
    std::printf("  v1 Hello: a=%d\n", data().a);
    return data().a;
  }
  int Foo() override {
    std::printf("  v1 Foo: a=%d\n", data().a);
    return -1;
  }
};
#else
class base final : public livemod::sdk::component<base, IBase, data_v2> {
 public:
  int Hello() override {
    std::printf("  v2 Hello: a=%d b=%d\n", data().a, data().b);
    return data().a;
  }
  int Foo() override {
    std::printf("  v2 Foo: a=%d b=%d\n", data().a, data().b);
    return data().b;
  }
};

// Runs once per v1 object, on its first call after the swap.
data_v2 from_v1(data_v1& old) {
  std::printf("  converting a v1 object: a=%d -> a=%d b=77\n", old.a, old.a);
  return data_v2{old.a, 77};
}
#endif

}  // namespace

#if SEED_VERSION == 1
LIVEMOD_CLASSES(livemod::sdk::class_def<base>(seed_base_class, "seed.base", 1));
#else
LIVEMOD_CLASSES(livemod::sdk::class_def<base>(seed_base_class, "seed.base", 2)
                    .converts_from<&from_v1>(1));
#endif
LIVEMOD_CLASSES_API()
