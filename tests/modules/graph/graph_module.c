/* One source for every module of the CLI's graph fixtures (tests/modules/graph): GRAPH_NAME
 * names it. on_load says "ready" through the host's log, so `livemod load` shows the order in
 * which modules were initialized; GRAPH_ASKS lists dependencies it reports as present or
 * absent (a weak one that is missing must be told); GRAPH_FAILS makes on_load fail, as a
 * module does whose resource is unavailable. */
#include <stddef.h>
#include <stdio.h>

#include <livemod/sdk/module.h>

#define GRAPH_STR2(x) #x
#define GRAPH_STR(x) GRAPH_STR2(x)

static void graph_log(const livemod_host_api* host, int level, const char* line) {
  if (host && host->size >= offsetof(livemod_host_api, host) + sizeof(void*) && host->log)
    host->log(host->host, level, line);
}

/* 1 present, 0 absent, -1 not a dependency, -2 the host cannot say. */
static int graph_present(const livemod_host_api* host, const char* name) {
  if (!host || host->size < offsetof(livemod_host_api, dependency_present) + sizeof(void*) ||
      !host->dependency_present)
    return -2;
  return (int)host->dependency_present(host->host, name);
}

LIVEMOD_EXPORT const char* graph_name(void) { return GRAPH_STR(GRAPH_NAME); }

LIVEMOD_EXPORT int32_t graph_on_load(const livemod_host_api* host, uint32_t abi) {
  if (abi != LIVEMOD_ABI_VERSION) return -LIVEMOD_E_ABI;
#ifdef GRAPH_FAILS
  graph_log(host, LIVEMOD_LOG_ERROR, "cannot open its database: /var/lib/store is locked");
  return -LIVEMOD_E_FAILED;
#else
  char line[160] = "ready";
#ifdef GRAPH_ASKS
  const char* deps[] = {GRAPH_ASKS};
  size_t used = 5;
  for (size_t i = 0; i < sizeof deps / sizeof deps[0] && used < sizeof line; ++i) {
    const int present = graph_present(host, deps[i]);
    const int n = snprintf(line + used, sizeof line - used, "%s %s %s", i == 0 ? ";" : ",",
                           deps[i], present == 1 ? "present" : present == 0 ? "absent" : "unknown");
    if (n < 0) break;
    used += (size_t)n;
  }
#endif
  graph_log(host, LIVEMOD_LOG_INFO, line);
  return LIVEMOD_ABI_VERSION;
#endif
}

LIVEMOD_EXPORT void graph_on_unload(void) {}
