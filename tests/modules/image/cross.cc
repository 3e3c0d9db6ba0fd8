// Compiled for this machine (image_cross_twin) and, with a cross compiler, for AArch64: the
// same module and manifest, so the tests can compare what differs (machine, fingerprint arch).
#include <livemod/sdk/module.h>

extern "C" LIVEMOD_EXPORT int cross_add(int a, int b) { return a + b; }

extern "C" LIVEMOD_EXPORT double cross_scale(double x) { return x * 1.5; }
