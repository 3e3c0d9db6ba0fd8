/* File: livemod/sdk/state.h
 *
 * The C ABI a module implements to take part in a hot swap: its API table, found by interface
 * id, and its state, carried from the old version to the new one as a versioned blob
 * {schema, bytes}. Plain C types only; livemod/sdk/state.hpp is the C++ face with a
 * key/value encoding where fields a new schema adds get defaults and removed ones are dropped.
 *
 *   static const calc_api api = {calc_add, calc_sub};
 *   LIVEMOD_EXPORT const void* livemod_get_api(const char* id) {
 *     return strcmp(id, "calc-api-1") == 0 ? &api : NULL;
 *   }
 *   LIVEMOD_EXPORT int32_t calc_save(livemod_state_sink* out) { return out->write(out, &n, sizeof n); }
 *   LIVEMOD_EXPORT int32_t calc_restore(const uint8_t* d, uint64_t size, uint32_t old_schema);
 *
 * The manifest names save_state and restore_state (entry_points) and the schema version of the
 * blob this build writes (state_schema). The host calls save_state on the old version once,
 * after the new one has loaded, then restore_state on the new one with the old version's
 * state_schema. Thread-safety: the host calls them on one thread, while callers may still be
 * calling the old version (state changed after save_state is not carried; see docs/hot-swap.md).
 */
#ifndef LIVEMOD_SDK_STATE_H
#define LIVEMOD_SDK_STATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The exported symbol a hot-swappable module defines: the table of function pointers for the
 * interface `id` (one of the manifest's "interfaces"), or NULL. The table must live as long as
 * the image (a static const object). */
#define LIVEMOD_GET_API_SYMBOL "livemod_get_api"
typedef const void* (*livemod_get_api_fn)(const char* interface_id);

/* Where save_state writes its blob: write(sink, bytes, size) appends, returns LIVEMOD_OK or
 * -LIVEMOD_E_FAILED (the host ran out of memory). The host copies the bytes before returning. */
typedef struct livemod_state_sink {
  void* context;
  int32_t (*write)(struct livemod_state_sink* sink, const void* data, uint64_t size);
} livemod_state_sink;

/* save_state(sink): LIVEMOD_OK or -LIVEMOD_E_*. */
typedef int32_t (*livemod_save_state_fn)(livemod_state_sink* sink);
/* restore_state(data, size, old_schema): LIVEMOD_OK or -LIVEMOD_E_*; the bytes are valid during
 * the call only. old_schema is the state_schema of the version that wrote them. */
typedef int32_t (*livemod_restore_state_fn)(const uint8_t* data, uint64_t size,
                                            uint32_t old_schema);

#ifdef __cplusplus
}
#endif

#endif /* LIVEMOD_SDK_STATE_H */
