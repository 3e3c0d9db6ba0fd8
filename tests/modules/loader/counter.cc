// A module whose global constructor counts: a test writes another value into the counter and
// reopens; an unchanged value means the old image was reused, 1 means a fresh image was mapped.
#include <livemod/sdk/module.h>

extern "C" {
LIVEMOD_EXPORT int loader_counter_value = 0;
}

namespace {
struct counts_construction {
  counts_construction() { ++loader_counter_value; }
};
counts_construction on_load;
}  // namespace

extern "C" LIVEMOD_EXPORT int loader_counter_get() { return loader_counter_value; }
