/* File: livemod/sdk/module.h
 *
 * The C ABI between a host and a module: plain C types and function pointers, nothing that
 * throws, nothing from the C++ standard library. A module written in C includes only this;
 * C++ authors use livemod/sdk/module.hpp, a typed face over it.
 *
 *   LIVEMOD_EXPORT int calculator_on_load(const livemod_host_api* host, uint32_t requested_abi) {
 *     return requested_abi == LIVEMOD_ABI_VERSION ? LIVEMOD_ABI_VERSION : -LIVEMOD_E_ABI;
 *   }
 *
 * The manifest (embedded by livemod_add_module) names the entry points; the host finds them by
 * those names after preflight has passed.
 */
#ifndef LIVEMOD_SDK_MODULE_H
#define LIVEMOD_SDK_MODULE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes; the manifest's "abi" field states which one a module
 * was written for, and on_load negotiates it. */
#define LIVEMOD_ABI_VERSION 1

/* Modules are built with hidden visibility: only what is marked is exported. */
#define LIVEMOD_EXPORT __attribute__((visibility("default")))

/* Result codes an entry point returns (negative = failure). */
#define LIVEMOD_OK 0
#define LIVEMOD_E_FAILED 1
#define LIVEMOD_E_ABI 2
#define LIVEMOD_E_EXCEPTION 3

/* Levels for livemod_host_api.log, least to most severe. */
#define LIVEMOD_LOG_DEBUG 0
#define LIVEMOD_LOG_INFO 1
#define LIVEMOD_LOG_WARNING 2
#define LIVEMOD_LOG_ERROR 3

/* What the host offers a module during on_load. Grows only at the end; `size` tells how much
 * of it this host fills in (sizeof(livemod_host_api) of the host's header), so a module reads
 * a member only if size covers it. `log` may be NULL; when set, it is called with `host` as its
 * first argument and a NUL-terminated message, which it copies before returning. */
typedef struct livemod_host_api {
  uint32_t size;
  uint32_t abi_version;
  void (*log)(void* host, int level, const char* message);
  void* host;
  /* Added for the registry (present when size covers it; may be NULL): what became of the
   * dependency `name` of the module being loaded, as its manifest lists it. Returns 1 when it
   * is loaded (a required or weak one is initialized before this module's on_load; an upward
   * one is mapped and initialized after it), 0 when it is a weak dependency that is absent
   * (not found, or its version is outside the range), -1 when the manifest lists no
   * dependency of that name. Called with `host` as its first argument, during on_load. */
  int32_t (*dependency_present)(void* host, const char* name);
} livemod_host_api;

/* on_load(host, requested_abi): returns the ABI version it speaks (> 0) or -LIVEMOD_E_*. */
typedef int32_t (*livemod_on_load_fn)(const livemod_host_api* host, uint32_t requested_abi);
typedef void (*livemod_on_unload_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* LIVEMOD_SDK_MODULE_H */
