/* One source for every module of the registry's graph fixtures: REG_NAME names it. on_load
 * logs "init <name>" (and for reg_app, what the host says about its dependencies); on_unload
 * appends "<name>" to LIVEMOD_REGISTRY_UNLOADS. */
#include "fixture.h"

#define REG_STR2(x) #x
#define REG_STR(x) REG_STR2(x)

LIVEMOD_EXPORT const char* reg_name(void) { return REG_STR(REG_NAME); }

LIVEMOD_EXPORT int32_t reg_on_load(const livemod_host_api* host, uint32_t abi) {
  if (abi != LIVEMOD_ABI_VERSION) return -LIVEMOD_E_ABI;
  fixture_say(host, "init " REG_STR(REG_NAME));
#ifdef REG_ASKS
  /* "present <dep> <answer>" for each dependency it is told about. */
  const char* deps[] = {REG_ASKS};
  for (size_t i = 0; i < sizeof deps / sizeof deps[0]; ++i) {
    char line[128];
    snprintf(line, sizeof line, "present %s %d", deps[i], fixture_dependency_present(host, deps[i]));
    fixture_say(host, line);
  }
#endif
  return LIVEMOD_ABI_VERSION;
}

LIVEMOD_EXPORT void reg_on_unload(void) { fixture_trace("LIVEMOD_REGISTRY_UNLOADS", REG_STR(REG_NAME)); }
