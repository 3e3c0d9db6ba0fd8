// Linked with -z nodelete: DF_1_NODELETE tells the loader never to unmap it (a pin).
#include <livemod/sdk/module.h>

extern "C" LIVEMOD_EXPORT int nodelete_answer() { return 42; }
