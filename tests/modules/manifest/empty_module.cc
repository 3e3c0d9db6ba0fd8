// A module with nothing in it but its manifest (added by livemod_add_module).
#include <livemod/sdk/module.h>

extern "C" LIVEMOD_EXPORT int manifest_fixture_marker() { return 1; }
