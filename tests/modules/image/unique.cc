// Built WITHOUT -fno-gnu-unique: g++ gives an exported template static and an inline
// variable STB_GNU_UNIQUE binding, and glibc then never unmaps the module (a pin).
#include <livemod/sdk/module.h>

namespace fixture {

template <class T>
struct LIVEMOD_EXPORT instance_count {
  static inline int value = 0;
};

LIVEMOD_EXPORT inline int shared_counter = 0;

}  // namespace fixture

extern "C" LIVEMOD_EXPORT int unique_touch() {
  ++fixture::shared_counter;
  return ++fixture::instance_count<int>::value;
}
