// A module with two faults a host must find before loading it: a missing library (DT_NEEDED
// liblivemod_example_absent.so, not on any search path) and a symbol nobody provides.
#include <livemod/sdk/module.h>

extern "C" int absent_feature(void);
extern "C" int provided_by_nobody(int);

extern "C" LIVEMOD_EXPORT int broken_compute(int x) { return absent_feature() + provided_by_nobody(x); }
