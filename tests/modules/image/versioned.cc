// Symbol versioning defined by a version script: an old hidden version (name@LIVEMOD_1.0),
// the default (name@@LIVEMOD_2.0) and a plain versioned symbol; .gnu.version_d has the base
// entry and the two versions, LIVEMOD_2.0 naming LIVEMOD_1.0 as its parent.
#include <livemod/sdk/module.h>

extern "C" LIVEMOD_EXPORT int versioned_api_v1(int x) { return x; }
extern "C" LIVEMOD_EXPORT int versioned_api_v2(int x) { return 2 * x; }
__asm__(".symver versioned_api_v1, versioned_api@LIVEMOD_1.0");
__asm__(".symver versioned_api_v2, versioned_api@@LIVEMOD_2.0");

extern "C" LIVEMOD_EXPORT int versioned_plain(int x) { return x + 1; }
