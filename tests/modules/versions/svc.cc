// The hot-swap fixture: one source, built into versions by compile definitions
// (tests/modules/versions/CMakeLists.txt). State: a counter (schema 1), plus a greeting
// (schema 2), carried by save_state / restore_state.
#include <livemod/sdk/module.hpp>
#include <livemod/sdk/state.hpp>

#include <atomic>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>

#include "svc_api.h"

namespace {
std::atomic<std::int64_t> counter{0};
#ifdef SVC_STRING_GLOBAL
// A heap-owning global: a swap must move it through save/restore, never by copying memory.
std::string label = "a label long enough to live on the heap, not in the small buffer";
#endif
#ifdef SVC_CRASH_FIRST_CALL
std::atomic<bool> crashed_once{false};
#endif

std::int32_t version() {
#ifdef SVC_CRASH_FIRST_CALL
  if (!crashed_once.exchange(true)) {
    std::raise(SIGSEGV);  // the first call crashes (raise, not a null store: UBSan would stop it first)
  }
#endif
  return SVC_VALUE;
}
std::int64_t bump() { return ++counter; }
std::int64_t count() { return counter.load(); }

const svc_api api = {version, bump, count};
}  // namespace

extern "C" LIVEMOD_EXPORT const void* livemod_get_api(const char* id) {
#ifdef SVC_IFACE
  return std::strcmp(id, SVC_IFACE) == 0 ? &api : nullptr;
#else
  return std::strcmp(id, SVC_API_ID) == 0 ? &api : nullptr;
#endif
}

LIVEMOD_ON_LOAD(svc_on_load, []() -> std::int32_t {
#ifdef SVC_HANG_ON_LOAD
  for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(50));
#endif
#ifdef SVC_ON_LOAD_FAILS
  return -LIVEMOD_E_FAILED;
#else
  return LIVEMOD_OK;
#endif
});

LIVEMOD_ON_UNLOAD(svc_on_unload, [] {
#ifdef SVC_ON_UNLOAD_CRASHES
  std::raise(SIGSEGV);
#endif
});

LIVEMOD_SAVE_STATE(svc_save, [](livemod::sdk::state_writer& w) {
  w.put("count", counter.load());
#ifdef SVC_STRING_GLOBAL
  w.put("label", label);
#endif
});

LIVEMOD_RESTORE_STATE(svc_restore,
                      [](const livemod::sdk::state_reader& r, std::uint32_t) -> std::int32_t {
#ifdef SVC_RESTORE_FAILS
                        (void)r;
                        return -LIVEMOD_E_FAILED;
#else
                        counter = r.get_int("count", 0);
#ifdef SVC_STRING_GLOBAL
                        label = r.get_string("label", label);
#endif
                        return LIVEMOD_OK;
#endif
                      });
