// The calculator fixture: exports a typed function, lifecycle entry points and a counter.
#include <livemod/sdk/module.h>

namespace {
int loads = 0;
}

extern "C" LIVEMOD_EXPORT int calculate(int x) { return 2 * x + 1; }

extern "C" LIVEMOD_EXPORT int calculator_loads() { return loads; }

extern "C" LIVEMOD_EXPORT int32_t calculator_on_load(const livemod_host_api*, uint32_t abi) {
  ++loads;
  return abi == LIVEMOD_ABI_VERSION ? LIVEMOD_ABI_VERSION : -LIVEMOD_E_ABI;
}

extern "C" LIVEMOD_EXPORT void calculator_on_unload() {}
