/* Two builds of one module (REG_VERSION 1 and 2): the same symbol names, different answers,
 * and a static of its own, for the isolated-namespace tests. */
#include "fixture.h"

static int bumps = 0;

LIVEMOD_EXPORT int reg_versioned_value(void) { return REG_VERSION; }
LIVEMOD_EXPORT int reg_versioned_bump(void) { return ++bumps; }
