/* An on_load that reports a failure. Its constructor and on_load count their runs in the
 * environment (LIVEMOD_REGISTRY_FAILS_CTOR, _LOAD), which outlives the module: a remembered
 * failure must leave both unchanged. */
#include "fixture.h"

__attribute__((constructor)) static void count_construction(void) {
  fixture_count("LIVEMOD_REGISTRY_FAILS_CTOR");
}

LIVEMOD_EXPORT int32_t reg_fails_on_load(const livemod_host_api* host, uint32_t abi) {
  (void)abi;
  fixture_count("LIVEMOD_REGISTRY_FAILS_LOAD");
  if (host && host->log) host->log(host->host, LIVEMOD_LOG_ERROR, "database at /var/db is locked");
  return -LIVEMOD_E_FAILED;
}
