/* Shared by the registry's fixture modules (tests/modules/registry): how they tell the test
 * what happened to them. Lines go through the host's log ("init reg_mid"), so the test sees
 * the order of on_load calls; what must survive the module's unloading (on_unload, attempts
 * of a module whose on_load fails) goes into environment variables, which live in the
 * process, not in the module. */
#ifndef LIVEMOD_REGISTRY_FIXTURE_H
#define LIVEMOD_REGISTRY_FIXTURE_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <livemod/sdk/module.h>

static inline void fixture_say(const livemod_host_api* host, const char* line) {
  if (host && host->size >= offsetof(livemod_host_api, host) + sizeof(void*) && host->log)
    host->log(host->host, LIVEMOD_LOG_INFO, line);
}

/* The host's answer about a dependency, or -2 when the host's table has no such query. */
static inline int fixture_dependency_present(const livemod_host_api* host, const char* name) {
  if (!host || host->size < offsetof(livemod_host_api, dependency_present) + sizeof(void*) ||
      !host->dependency_present)
    return -2;
  return (int)host->dependency_present(host->host, name);
}

/* Adds 1 to the number held by the environment variable `name`. */
static inline void fixture_count(const char* name) {
  const char* now = getenv(name);
  char text[32];
  snprintf(text, sizeof text, "%d", (now ? atoi(now) : 0) + 1);
  setenv(name, text, 1);
}

/* Appends `word` and a ';' to the environment variable `name`. */
static inline void fixture_trace(const char* name, const char* word) {
  const char* now = getenv(name);
  size_t len = (now ? strlen(now) : 0) + strlen(word) + 2;
  char* text = (char*)malloc(len);
  if (!text) return;
  snprintf(text, len, "%s%s;", now ? now : "", word);
  setenv(name, text, 1);
  free(text);
}

#endif
