// An example module: a calculator API table behind C entry points.
#include <livemod/sdk/module.h>

#include <cstdio>

extern "C" {

// The API a host calls: plain C function pointers, so any compiler's host can use it.
struct calculator_api {
  int (*add)(int, int);
  int (*multiply)(int, int);
};

static int add(int a, int b) { return a + b; }
static int multiply(int a, int b) { return a * b; }
static const calculator_api api = {add, multiply};

LIVEMOD_EXPORT const calculator_api* calculator_get_api() { return &api; }

LIVEMOD_EXPORT int32_t calculator_on_load(const livemod_host_api*, uint32_t requested_abi) {
  if (requested_abi != LIVEMOD_ABI_VERSION) return -LIVEMOD_E_ABI;
  return LIVEMOD_ABI_VERSION;
}

LIVEMOD_EXPORT void calculator_on_unload() {}
}
