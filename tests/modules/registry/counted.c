/* Counts its ELF constructor runs and its on_load calls in its own statics: eight threads
 * loading it at once must leave both at 1. */
#include "fixture.h"

static int constructed = 0;
static int loaded = 0;

__attribute__((constructor)) static void count_construction(void) { ++constructed; }

LIVEMOD_EXPORT int reg_counted_constructed(void) { return constructed; }
LIVEMOD_EXPORT int reg_counted_loaded(void) { return loaded; }

LIVEMOD_EXPORT int32_t reg_counted_on_load(const livemod_host_api* host, uint32_t abi) {
  (void)host;
  if (abi != LIVEMOD_ABI_VERSION) return -LIVEMOD_E_ABI;
  ++loaded;
  return LIVEMOD_ABI_VERSION;
}
